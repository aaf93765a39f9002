import pytest

from faultlib import wait_healthy

# Published by molecule.yml: nginx of the scenario's container on loopback.
URL = "http://127.0.0.1:18082"
CONTAINER = "websocket-faults"
WORKERS = 2  # websocket_app_processes in host_vars


@pytest.fixture
def url() -> str:
    return URL


@pytest.fixture
def container() -> str:
    return CONTAINER


@pytest.fixture
def healthy(container: str, url: str) -> dict[int, int]:
    """Every test starts from a healthy service (whatever the previous one broke): worker id -> pid."""
    return wait_healthy(container, url, WORKERS)
