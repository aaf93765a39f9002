"""Fixtures of a single-host Molecule scenario, read from its molecule.yml and host_vars: the platform's name and
the ports it publishes are stated there once. A scenario's conftest imports the ones it uses
(`from scenario import container, url`).

Module scope: the requesting test module's path names the scenario (molecule/<scenario>/tests/test_*.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml


def platform(scenario: Path) -> dict[str, Any]:
    """The scenario's one platform (a scenario with several has no single container or URL)."""
    (only,) = yaml.safe_load((scenario / "molecule.yml").read_text())["platforms"]
    return only


def published(scenario: Path, port: int) -> str | None:
    """`address:port` on the controller that the platform's `port` is published on (`127.0.0.1:18443:443`)."""
    for mapping in platform(scenario).get("published_ports", []):
        address, outside, inside = str(mapping).rsplit(":", 2)
        if int(inside) == port:
            return f"{address}:{outside}"
    return None


def site_url(scenario: Path) -> str:
    """nginx of the scenario's container on loopback: HTTPS when 443 is published, else plain HTTP."""
    if tls := published(scenario, 443):
        return f"https://{tls}"
    plain = published(scenario, 80)
    assert plain, f"{scenario / 'molecule.yml'} publishes neither port 443 nor port 80"
    return f"http://{plain}"


def plain_url(scenario: Path) -> str:
    """The plain HTTP port (with TLS on, the one that redirects)."""
    plain = published(scenario, 80)
    assert plain, f"{scenario / 'molecule.yml'} does not publish port 80"
    return f"http://{plain}"


def app_processes(scenario: Path) -> int:
    """uWSGI workers the scenario's host_vars give its container (websocket_app_processes)."""
    host_vars = scenario / "host_vars" / f"{platform(scenario)['name']}.yml"
    return int(yaml.safe_load(host_vars.read_text())["websocket_app_processes"])


def _scenario(request: pytest.FixtureRequest) -> Path:
    return request.path.parents[1]


@pytest.fixture(scope="module")
def container(request: pytest.FixtureRequest) -> str:
    return platform(_scenario(request))["name"]


@pytest.fixture(scope="module")
def url(request: pytest.FixtureRequest) -> str:
    return site_url(_scenario(request))


@pytest.fixture(scope="module")
def http_url(request: pytest.FixtureRequest) -> str:
    return plain_url(_scenario(request))


@pytest.fixture(scope="module")
def workers(request: pytest.FixtureRequest) -> int:
    return app_processes(_scenario(request))


@pytest.fixture(scope="module")
def tls_dir() -> Path:
    """The scenario's certificates, made on the controller by its prepare.yml (the role copies them to the host)."""
    return Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "tls"
