"""The scenario fixtures read each single-host scenario's molecule.yml and host_vars as the suites expect."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenario import app_processes, plain_url, platform, site_url

MOLECULE = Path(__file__).resolve().parents[2] / "molecule"


@pytest.mark.parametrize(
    ("scenario", "container", "url"),
    [
        ("default", "websocket-default", "https://127.0.0.1:18443"),  # TLS published: the suite talks HTTPS
        ("faults", "websocket-faults", "http://127.0.0.1:18082"),
        ("apps", "websocket-apps", "http://127.0.0.1:18083"),
    ],
)
def test_container_and_url_come_from_the_platform(scenario: str, container: str, url: str) -> None:
    assert platform(MOLECULE / scenario)["name"] == container
    assert site_url(MOLECULE / scenario) == url


def test_the_plain_url_is_the_published_port_80() -> None:
    assert plain_url(MOLECULE / "default") == "http://127.0.0.1:18080"


def test_the_worker_count_comes_from_host_vars() -> None:
    assert app_processes(MOLECULE / "faults") == 2


def test_a_scenario_with_several_platforms_has_no_single_container() -> None:
    with pytest.raises(ValueError, match="too many values"):
        platform(MOLECULE / "cluster")
