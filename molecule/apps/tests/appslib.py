"""Deploys from the tests: the bundle's playbooks against the scenario's inventory, and what a deploy left behind."""

from __future__ import annotations

from typing import Any

from containers import PROJECT, sh
from testlib import WAIT, Client

FIXTURES = PROJECT / "molecule" / "apps" / "fixtures"
ROOT = "/opt/websocket"


def live_release(container: str) -> str:
    return sh(container, "readlink", f"{ROOT}/current").stdout.strip().rsplit("/", 1)[-1]


def history(container: str) -> list[str]:
    return [line.split(" ", 1)[0] for line in sh(container, "cat", f"{ROOT}/history").stdout.splitlines() if line]


def about(url: str) -> dict[str, Any]:
    client = Client(url).connect()
    try:
        return client.sio.call("about", timeout=WAIT)
    finally:
        client.close()
