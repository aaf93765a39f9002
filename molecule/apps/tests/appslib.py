"""Deploys from the tests: the bundle's playbooks against the scenario's inventory, and what a deploy left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testlib import WAIT, Client, sh, uwsgi_stats

PROJECT = Path(__file__).resolve().parents[3]
FIXTURES = PROJECT / "molecule" / "apps" / "fixtures"
ROOT = "/opt/websocket"


@dataclass
class Run:
    rc: int
    output: str

    @property
    def folded(self) -> str:
        """The output on one line: Ansible folds long messages over lines."""
        return " ".join(self.output.split())

    def recap(self, host: str) -> dict[str, int]:
        match = re.search(rf"^{re.escape(host)}\s*:\s*(.*)$", self.output, re.MULTILINE)
        assert match, self.output[-3000:]
        return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def inventory() -> str:
    # Molecule's ephemeral inventory (the scenario's hosts, group_vars and host_vars links, the Redis secret).
    return str(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory")


def playbook(name: str, *args: str) -> Run:
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(PROJECT / "roles"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env.setdefault("MOLECULE_PROJECT_DIRECTORY", str(PROJECT))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory(), str(PROJECT / name), *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT, timeout=1200, check=False)
    return Run(done.returncode, done.stdout + done.stderr)


def live_release(container: str) -> str:
    return sh(container, "readlink", f"{ROOT}/current").stdout.strip().rsplit("/", 1)[-1]


def history(container: str) -> list[str]:
    return [line.split(" ", 1)[0] for line in sh(container, "cat", f"{ROOT}/history").stdout.splitlines() if line]


def worker_pids(container: str) -> set[int]:
    return {worker["pid"] for worker in uwsgi_stats(container)["workers"]}


def about(url: str) -> dict[str, Any]:
    client = Client(url).connect()
    try:
        return client.sio.call("about", timeout=WAIT)
    finally:
        client.close()
