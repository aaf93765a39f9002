"""websocket_status (the <service>-status command): rows from the uWSGI stats server and each worker's own answer
to the health path, against a fake stats server and fake workers on sockets in tmp_path."""

from __future__ import annotations

import http.server
import json
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from websocket_status import Config, main

ROOT = Path(__file__).resolve().parents[3]
WRAPPER = ROOT / "roles/websocket_app/templates/usr/local/bin/websocket-status.j2"
MISSING_PID = 2**22 + 1  # above Linux's pid_max: no /proc entry, so no memory figure

STATS = {
    "pid": 4242,
    "cwd": "/opt/websocket/current/app",
    "listen_queue": 3,
    "listen_queue_errors": 1,
    "workers": [
        # 2 WebSockets open on 3 cores.
        {"id": 1, "pid": MISSING_PID, "status": "idle", "requests": 10, "exceptions": 0, "respawn_count": 1,
         "cores": [{"in_request": 1}, {"in_request": 1}, {"in_request": 0}]},
        {"id": 2, "pid": MISSING_PID, "status": "busy", "requests": 5, "exceptions": 2, "respawn_count": 1,
         "cores": [{"in_request": 1}]},
        # Respawning: not asked.
        {"id": 3, "pid": 0, "status": "cheap", "requests": 0, "exceptions": 0, "respawn_count": 2, "cores": []},
        # Its socket is gone.
        {"id": 4, "pid": MISSING_PID, "status": "idle", "requests": 0, "exceptions": 0, "respawn_count": 1},
    ],
}  # fmt: skip


class Worker(http.server.BaseHTTPRequestHandler):
    """A worker's health path: /healthz answers with the server's status and body; records what was asked."""

    def do_GET(self) -> None:
        self.server.asked.append(self.path)  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()
        self.wfile.write(self.server.body)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class StatsHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(json.dumps(STATS).encode())


def serve(server: socketserver.BaseServer, **attributes: Any) -> socketserver.BaseServer:
    for name, value in attributes.items():
        setattr(server, name, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# What the fake workers were asked (paths), in order.
ASKED: list[str] = []


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Config]:
    ASKED.clear()
    servers = [
        serve(UnixServer(str(tmp_path / "stats.sock"), StatsHandler)),
        serve(
            UnixServer(str(tmp_path / "worker-1.sock"), Worker),
            status=200, asked=ASKED,
            body=b'{"status": "ok", "message_queue": "subscribed", "message_queue_primary": "10.0.0.7:6379"}',
        ),
        serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Worker), status=503, body=b"starting", asked=ASKED),
    ]  # fmt: skip
    tcp_port = servers[2].server_address[1]  # type: ignore[attr-defined]
    yield Config(
        stats=str(tmp_path / "stats.sock"),
        sid_prefixes=["a1b2c3d4", "e5f60718", "0badc0de", "feedf00d"],
        sockets=[
            f"unix:{tmp_path}/worker-1.sock",
            f"127.0.0.1:{tcp_port}",
            f"unix:{tmp_path}/worker-3.sock",
            f"unix:{tmp_path}/worker-4.sock",
        ],
        health_path="/healthz",
    )
    for server in servers:
        server.shutdown()
        server.server_close()


def run(capsys: pytest.CaptureFixture[str], config: Config, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), config)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lists_every_worker_with_its_own_health_answer(capsys: pytest.CaptureFixture[str], config: Config) -> None:
    code, out, _ = run(capsys, config, "--json")
    assert code == 0
    summary = json.loads(out)
    assert {
        key: summary[key] for key in ("master_pid", "cwd", "listen_queue", "listen_queue_errors", "connections")
    } == {
        "master_pid": 4242,
        "cwd": "/opt/websocket/current/app",
        "listen_queue": 3,
        "listen_queue_errors": 1,
        "connections": 3,
    }
    rows = summary["workers"]
    assert [(r["worker"], r["sid_prefix"], r["connections"], r["async_cores"]) for r in rows] == [
        (1, "a1b2c3d4", 2, 3),
        (2, "e5f60718", 1, 1),
        (3, "0badc0de", 0, 0),
        (4, "feedf00d", 0, 0),
    ]
    assert [(r["health"], r["message_queue"], r["queue_primary"]) for r in rows] == [
        (200, "subscribed", "10.0.0.7:6379"),
        (503, None, None),
        (None, None, None),
        ("FileNotFoundError", None, None),
    ]
    assert rows[1] == {
        "worker": 2,
        "sid_prefix": "e5f60718",
        "pid": MISSING_PID,
        "status": "busy",
        "connections": 1,
        "async_cores": 1,
        "requests": 5,
        "exceptions": 2,
        "respawns": 1,
        "rss_mb": None,
        "health": 503,
        "message_queue": None,
        "queue_primary": None,
    }


def test_no_health_asks_no_worker(capsys: pytest.CaptureFixture[str], config: Config) -> None:
    code, out, _ = run(capsys, config, "--json", "--no-health")
    assert code == 0
    assert [(r["health"], r["message_queue"]) for r in json.loads(out)["workers"]] == [(None, None)] * 4
    assert ASKED == []
    code, out, _ = run(capsys, config, "--no-health")
    assert [line.split()[-3:] for line in out.splitlines()[1:-1]] == [["-", "-", "-"]] * 4
    assert "None" not in out
    code, out, _ = run(capsys, config, "--json")
    assert json.loads(out)["workers"][0]["health"] == 200  # the same fake workers answer when asked
    assert ASKED == ["/healthz", "/healthz"]


def test_the_table_has_one_line_per_worker_and_a_summary(capsys: pytest.CaptureFixture[str], config: Config) -> None:
    code, out, _ = run(capsys, config)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "worker", "sid_prefix", "pid", "status", "connections", "async_cores", "requests", "exceptions", "respawns",
        "rss_mb", "health", "message_queue", "queue_primary",
    ]  # fmt: skip
    assert lines[1] == "  ".join(
        f"{v:>11}"
        for v in [
            "1", "a1b2c3d4", str(MISSING_PID), "idle", "2", "3", "10", "0", "1", "-", "200", "subscribed",
            "10.0.0.7:6379",
        ]
    )  # fmt: skip
    # No value (no memory figure, a worker not asked) is a dash.
    assert lines[3].split() == ["3", "0badc0de", "0", "cheap", "0", "0", "0", "0", "2", "-", "-", "-", "-"]
    assert lines[-1] == "master 4242: 3 connections, listen queue 3 (errors 1)"
    assert len(lines) == 6


def test_a_missing_stats_socket_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    gone = Config(stats=str(tmp_path / "gone.sock"), sid_prefixes=[], sockets=[], health_path="/healthz")
    code, out, err = run(capsys, gone, "--json")
    assert code == 1
    assert not out
    assert err.startswith(f"cannot read {tmp_path}/gone.sock: ")
    assert err.rstrip().endswith("(is the service running?)")


def test_the_installed_command_runs_the_module_with_the_role_settings(tmp_path: Path, config: Config) -> None:
    # The wrapper template rendered as the role renders it (ansible_managed, to_json), then run as a command.
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    environment.filters["to_json"] = json.dumps
    environment.filters["comment"] = lambda text: f"#\n# {text}\n#"
    command = tmp_path / "websocket-status"
    command.write_text(
        environment.from_string(WRAPPER.read_text()).render(
            ansible_managed="Ansible managed",
            websocket_app_service_name="websocket",
            websocket_app_root=str(ROOT / "roles/websocket_app/files/opt/websocket"),
            websocket_app_stats_socket=config.stats,
            websocket_app_worker_sid_prefixes=config.sid_prefixes,
            websocket_app_worker_sockets=config.sockets,
            websocket_app_health_path=config.health_path,
        )
    )
    ran = subprocess.run([sys.executable, str(command), "--json"], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    rows = json.loads(ran.stdout)["workers"]
    assert [(r["sid_prefix"], r["health"]) for r in rows] == [
        ("a1b2c3d4", 200),
        ("e5f60718", 503),
        ("0badc0de", None),
        ("feedf00d", "FileNotFoundError"),
    ]
