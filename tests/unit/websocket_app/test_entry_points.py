"""The websocket_app role's entry points for playbooks (tasks_from: facts|health|rollback) check their inputs
before doing anything: argument_specs for types, the rollback task file for the release id. Run on localhost in
check mode; none of these runs gets past its checks, so nothing on this machine is read or changed."""

from __future__ import annotations

import http.server
import json
import re
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


def run_entry_point(
    tmp_path: Path, entry: str, variables: dict[str, object], check: bool = True
) -> subprocess.CompletedProcess[str]:
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
                {
                    "name": "Show the answers",
                    "ansible.builtin.debug": {
                        "msg": "ANSWERS {{ answers | map(attribute='status', default=-1) | to_json }}"
                        " {{ answers | map(attribute='msg', default='') | to_json }}"
                    },
                    "vars": {"answers": "{{ websocket_app_health_answers.results }}"},
                    "when": entry == "probe",
                },
            ],
        }
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    return subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(playbook), "-e", json.dumps(variables)]
        + (["--check"] if check else []),
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
        ("probe", {}, "missing required arguments: websocket_app_worker_sockets"),
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


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_probe_entry_point_asks_each_worker_once_and_never_fails(tmp_path: Path) -> None:
    # A worker that answers on a unix socket, and one whose socket is not there (a stopped service).
    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    live = tmp_path / "worker-1.sock"
    server = Server(str(live), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sockets = [f"unix:{live}", f"unix:{tmp_path / 'worker-2.sock'}"]
        variables = {
            "websocket_app_worker_sockets": sockets,
            "websocket_app_health_path": "/healthz",
            "ansible_python_interpreter": sys.executable,  # the module runs here, on this Python
        }
        run = run_entry_point(tmp_path, "probe", variables, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ANSWERS [200, -1]" in run.stdout, run.stdout[-800:]
    assert "Connection refused" in run.stdout or "No such file" in run.stdout  # why the second did not answer
