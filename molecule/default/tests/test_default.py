"""Behaviour of one host: uWSGI (gevent_uwsgi) behind nginx (HTTPS), checked with real Socket.IO clients over wss."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import pytest
import websocket

from containers import PROJECT, sh, status
from faultlib import pinned_clients
from testlib import Client, clients, http_get, ws_connect


@pytest.mark.parametrize(
    ("command", "unit"),
    [("is-active", "websocket"), ("is-enabled", "websocket"), ("is-active", "nginx"), ("is-enabled", "nginx")],
)
def test_units_are_running_and_enabled(container, command, unit):
    assert sh(container, "systemctl", command, unit, check=False).stdout.strip() in {"active", "enabled"}


def test_message_is_echoed_over_websocket_through_nginx(url):
    with clients(url) as (client,):
        assert client.sio.transport() == "websocket"
        token = str(uuid.uuid4())
        assert client.echo(token) == token
        assert client.echo({"nested": [1, 2, token]}) == {"nested": [1, 2, token]}


def test_broadcast_reaches_every_client_on_every_worker(url, container):
    # One client per worker (told apart by their session ids' prefixes): the broadcast crosses workers via Redis.
    with pinned_clients(container, url, per_worker=1) as pinned:
        everyone = pinned.all()
        assert len(pinned.by_worker) == int(sh(container, "nproc").stdout) == len(everyone)
        token = str(uuid.uuid4())
        everyone[0].sio.emit("broadcast", token)
        assert [client.next("broadcast") for client in everyone] == [token] * len(everyone)


def test_polling_handshake_advertises_the_websocket_upgrade(url):
    status, body = http_get(f"{url}/socket.io/?EIO=4&transport=polling")
    assert status == 200
    assert body.startswith("0")
    assert json.loads(body[1:])["upgrades"] == ["websocket"]


def test_client_page_and_socketio_client_are_served_by_nginx(url):
    status, page = http_get(f"{url}/")
    assert status == 200
    assert 'src="socket.io.min.js"' in page
    status, script = http_get(f"{url}/socket.io.min.js")
    assert status == 200
    assert "Socket.IO v4" in script


def test_healthz_reports_a_worker_pid(url, container):
    code, body = http_get(f"{url}/healthz")
    report = json.loads(body)
    assert code == 200
    assert report["status"] == "ok"
    worker_pids = {row["pid"] for row in status(container)["workers"]}
    assert report["pid"] in worker_pids


def test_the_worker_runs_with_the_garbage_collector_tuned(url):
    # The role's websocket_gc module, imported by uWSGI before the app, froze what the app's import built (tens of
    # thousands of objects) and raised the thresholds: Python's defaults are (700, 10, 10) and nothing frozen.
    report = json.loads(http_get(f"{url}/healthz")[1])
    assert report["gc"]["threshold"] == [10000, 10, 10]
    assert report["gc"]["frozen"] > 10000
    # The role's WebSocket transport took over from python-engineio's driver (websocket_app_transport: bundle).
    assert report["transport"] == "bundle"


def test_foreign_origin_is_refused_and_own_origin_accepted(url):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ws_connect(url, origin="https://evil.example")
    assert refused.value.status_code == 400  # Engine.IO's own refusal, not a proxy or server error
    own = ws_connect(url, origin=url)
    try:
        assert own.recv().startswith("0{")  # Engine.IO open packet
    finally:
        own.close()


def test_uwsgi_runs_with_the_scenario_values(container):
    ini = sh(container, "cat", "/etc/websocket/uwsgi.ini").stdout
    assert re.search(r"^gevent = 1500$", ini, re.MULTILINE)
    assert re.search(r"^listen = 2048$", ini, re.MULTILINE)
    assert not re.search(r"^threads", ini, re.MULTILINE)
    workers = status(container)["workers"]
    assert len(workers) == int(sh(container, "nproc").stdout)  # default: one worker per core
    assert all(worker["async_cores"] == 1500 for worker in workers)  # one async core per gevent slot
    log = sh(container, "journalctl", "-u", "websocket", "--no-pager", "-o", "cat").stdout
    assert "listen backlog is limited to 2048 connections" in log


def test_restart_websocket_and_clients_reconnect(url, container):
    client = Client(url).connect()
    try:
        assert client.echo("before") == "before"
        sh(container, "systemctl", "restart", "websocket")
        assert sh(container, "systemctl", "is-active", "websocket").stdout.strip() == "active"
        # python-socketio reconnects by itself; the second connect event proves it.
        assert client.connects.get(timeout=30) == "websocket"
        assert client.echo("after") == "after"
    finally:
        client.close()
    with clients(url) as (fresh,):
        assert fresh.echo("fresh") == "fresh"


def test_benchmark_smoke_run_produces_json_chart_and_summary(container, tmp_path):
    # Keeps bench/ working: a few clients for a few seconds, through the same runner `make bench` uses.
    run = subprocess.run(
        [
            sys.executable,
            str(PROJECT / "bench" / "run.py"),
            "--target",
            f"bundle={container}",
            "--smoke",
            "--one-address",
            "bundle",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "results.json").read_text())["results"]["bundle"]
    assert (result["capacity"]["held"], result["capacity"]["failed"]) == (40, 0)
    for sweep in (result["echo"], result["echo_one_address"]):
        assert all(step["failed"] == 0 and step["unanswered"] == 0 for step in sweep["steps"])
    assert result["echo"]["best_rate_within_budget"] > 0
    sizing = result["sizing"]
    assert sizing["nofile"] > sizing["async_cores"] > 0, sizing
    assert sizing["rss_mb_at_rest"] > 0, sizing
    broadcast = result["broadcast"]
    assert broadcast["received"] == broadcast["connected"] * broadcast["sent"] > 0
    ref = result["reference"]
    assert (ref["held"], ref["echoed"], ref["failed"], ref["not_websocket"]) == (30, 30, 0, 0), ref
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert "| capacity: held / tried | 40 / 40 |" in (tmp_path / "summary.md").read_text()
