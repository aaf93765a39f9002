import os
from pathlib import Path

import pytest

# Published by molecule.yml: nginx of the scenario's container on loopback, HTTPS and the plain port that redirects.
URL = "https://127.0.0.1:18443"
HTTP_URL = "http://127.0.0.1:18080"
CONTAINER = "websocket-default"
# The self-signed pair prepare.yml made on the controller; the role copies it to the host.
TLS_DIR = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "tls"


@pytest.fixture
def url() -> str:
    return URL


@pytest.fixture
def http_url() -> str:
    return HTTP_URL


@pytest.fixture
def container() -> str:
    return CONTAINER


@pytest.fixture
def tls_dir() -> Path:
    return TLS_DIR
