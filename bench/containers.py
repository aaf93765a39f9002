"""The project's deployed containers, seen from the controller: commands in them, their status and the playbooks that
deploy them. One copy for the benchmark runner (`python bench/run.py` imports it from its own directory) and the test
suites (pytest.ini puts bench/ on their path)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Under Molecule the project is where Molecule says; elsewhere the checkout this file is in.
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[1]))


def sh(
    container: str, *command: str, check: bool = True, timeout: float | None = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command inside a container as root."""
    return subprocess.run(
        ["podman", "exec", container, *command], capture_output=True, text=True, check=check, timeout=timeout
    )


def container_pid(container: str) -> int:
    """The container's init process as the host sees it (to enter its namespaces)."""
    return int(
        subprocess.run(
            ["podman", "inspect", "-f", "{{.State.Pid}}", container], capture_output=True, text=True, check=True
        ).stdout
    )


def main_pid(container: str, unit: str) -> int:
    """The unit's main process in the container; fails when the unit has none (systemd says 0)."""
    pid = int(sh(container, "systemctl", "show", "--property=MainPID", "--value", unit).stdout)
    assert pid > 0, f"{unit} has no main process"
    return pid


def status(container: str, health: bool = True) -> dict[str, Any]:
    """`websocket-status --json`: the master's pid and cwd, listen queue, connections and one row per worker.
    health=False skips asking each worker's health path (2 s timeout each): for polling while workers die."""
    return json.loads(sh(container, "websocket-status", "--json", *([] if health else ["--no-health"])).stdout)


@dataclass
class Run:
    """What one ansible-playbook run returned: its exit code and its output (stdout, then stderr)."""

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


def molecule_inventory() -> Path:
    """The scenario's inventory Molecule wrote (its hosts, the group_vars and host_vars links, the Redis secret)."""
    return Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "inventory"


def _streamed(command: list[str], env: dict[str, str], progress: Callable[[str], None]) -> Run:
    """Run ansible-playbook, handing each play, task and recap line to `progress` as it comes; the whole output kept."""
    lines = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=PROJECT
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith(("PLAY [", "TASK [", "RUNNING HANDLER [", "PLAY RECAP")) or re.match(
                r"\S+\s+: ok=", line
            ):
                progress(line.rstrip(" *\n"))
    return Run(process.returncode, "".join(lines))


def playbook(
    name: str,
    *args: str,
    inventory: str | Path | None = None,
    timeout: float | None = 1200,
    progress: Callable[[str], None] | None = None,
) -> Run:
    """One of the project's playbooks (a path relative to the project) from the project root, with its ansible.cfg
    and roles, against `inventory` (default: the Molecule scenario's), output uncoloured for assertions. With
    `progress`, each play, task and recap line goes to it as the play runs (no timeout then)."""
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(PROJECT / "roles"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env.setdefault("MOLECULE_PROJECT_DIRECTORY", str(PROJECT))
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(inventory or molecule_inventory()),
        str(PROJECT / name),
        *args,
    ]
    if progress is not None:
        return _streamed(command, env, progress)
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT, timeout=timeout, check=False)
    return Run(done.returncode, done.stdout + done.stderr)
