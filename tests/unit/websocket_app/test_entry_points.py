"""The websocket_app role's entry points for playbooks (tasks_from: facts|health|rollback) check their inputs
before doing anything: argument_specs for types, the rollback task file for the release id. Run on localhost in
check mode; none of these runs gets past its checks, so nothing on this machine is read or changed."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


def run_entry_point(tmp_path: Path, entry: str, variables: dict[str, object]) -> subprocess.CompletedProcess[str]:
    play = [
        {
            "name": f"Use the {entry} entry point",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [
                {"name": "Run it", "ansible.builtin.import_role": {"name": "websocket_app", "tasks_from": entry}},
                {
                    "name": "Show the sockets",
                    "ansible.builtin.debug": {"msg": "SOCKETS {{ websocket_app_worker_sockets | to_json }}"},
                    "when": entry == "facts",
                },
            ],
        }
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    return subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(playbook), "--check", "-e", json.dumps(variables)],
        cwd=ROOT,  # the repository's ansible.cfg: roles_path = roles
        capture_output=True,
        text=True,
        timeout=300,
    )


ROLLBACK_TO_REFUSED = "websocket_app_rollback_to must be '' or a release id"


@pytest.mark.parametrize(
    ("entry", "variables", "named"),
    [
        ("rollback", {"websocket_app_rollback_to": "../../etc"}, ROLLBACK_TO_REFUSED),
        ("rollback", {"websocket_app_rollback_to": "abc.def"}, ROLLBACK_TO_REFUSED),
        ("rollback", {"websocket_app_keep_releases": "many"}, "websocket_app_keep_releases"),
        ("health", {}, "missing required arguments: websocket_app_worker_sockets"),
        ("facts", {"websocket_app_socket_type": "carrier-pigeon"}, "websocket_app_socket_type"),
    ],
)
def test_an_entry_point_refuses_bad_input_by_name(
    tmp_path: Path, entry: str, variables: dict[str, object], named: str
) -> None:
    run = run_entry_point(tmp_path, entry, variables)
    assert run.returncode != 0
    assert named in run.stdout


def test_the_facts_entry_point_lists_the_worker_sockets(tmp_path: Path) -> None:
    variables = {
        "websocket_app_processes": 2,
        "websocket_app_socket_type": "tcp",
        "websocket_app_tcp_address": "10.0.0.5",
        "websocket_app_tcp_base_port": 16000,
    }
    run = run_entry_point(tmp_path, "facts", variables)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'SOCKETS ["10.0.0.5:16000", "10.0.0.5:16001"]' in run.stdout


def test_the_release_id_pattern_takes_the_ids_a_deploy_makes() -> None:
    pattern = yaml.safe_load((ROOT / "roles/websocket_app/vars/main.yml").read_text())[
        "__websocket_app_release_id_pattern"
    ]
    assert re.match(pattern, "3f2a9c41d0be-5e61aa07")  # <12 hex of the code>-<8 hex of the entry>
    assert re.match(pattern, "pending-5e61aa07")  # a git deploy in check mode before the checkout moved
    for bad in ("../../etc", "a/b", "a.b", ""):
        assert not re.match(pattern, bad)
