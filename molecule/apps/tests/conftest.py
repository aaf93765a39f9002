import pytest

# Published by molecule.yml: nginx of the scenario's container on loopback.
URL = "http://127.0.0.1:18083"
CONTAINER = "websocket-apps"


@pytest.fixture(scope="session")
def url() -> str:
    return URL


@pytest.fixture(scope="session")
def container() -> str:
    return CONTAINER
