"""What an operator reads: the status helper, /healthz and the journal."""

from __future__ import annotations

import json
import re
import time
import uuid

import websocket

from containers import sh, status
from faultlib import journal_after, journal_cursor, wait_for
from testlib import WAIT, clients, sid_prefix, ws_connect


def settled(container: str) -> dict:
    """A status reading once closing clients of earlier tests have released their cores (two equal readings)."""
    previous = status(container)
    for _ in range(20):
        time.sleep(0.5)
        current = status(container)
        if current["connections"] == previous["connections"]:
            return current
        previous = current
    return previous


def test_status_helper_counts_open_connections_per_worker(url, container):
    workers = {row["pid"] for row in status(container)["workers"]}
    before = settled(container)
    with clients(url, 5):
        during = settled(container)
    assert {row["pid"] for row in during["workers"]} == workers
    # Every WebSocket holds one async core for its lifetime: the five clients are busy cores.
    assert during["connections"] - before["connections"] == 5
    assert all(row["rss_mb"] and row["rss_mb"] > 1 for row in during["workers"])
    # Each worker's own answer to the health path: the bundled app's /healthz, with its queue subscription.
    assert [(row["health"], row["message_queue"]) for row in during["workers"]] == [(200, "subscribed")] * len(workers)
    table = sh(container, "websocket-status").stdout
    assert "connections" in table.splitlines()[0]
    assert len(table.splitlines()) == len(workers) + 2  # header, one row per worker, master summary


def test_journal_has_worker_lines_but_no_per_message_noise(url, container):
    token = f"journal-{uuid.uuid4()}"
    with clients(url) as (client,):
        for _ in range(20):
            assert client.echo(token) == token
    journal = sh(container, "journalctl", "-u", "websocket", "--no-pager", "-o", "cat").stdout
    assert "ready: async_mode=gevent_uwsgi" in journal
    assert token not in journal
    # No uWSGI request lines for successful requests (disable-logging); 4xx/5xx are still logged on purpose.
    # (The scenario logs JSON: a line's text is its event; uWSGI's first lines, before its log master, are text.)
    events = [json.loads(line)["event"] if line.startswith("{") else line for line in journal.splitlines()]
    requests = [line for line in events if line.startswith("[pid: ")]
    assert not [line for line in requests if "(HTTP/1.1 2" in line or "(HTTP/1.1 101" in line]


# GET a path of a worker's unix socket from inside the container (no curl there): python3 -c ASK_WORKER SOCKET PATH
ASK_WORKER = """
import socket, sys
client = socket.socket(socket.AF_UNIX)
client.connect(sys.argv[1])
client.sendall(f"GET {sys.argv[2]} HTTP/1.0\\r\\n\\r\\n".encode())
client.recv(65536)
"""


def worker_sockets(container: str) -> list[str]:
    """Worker N's socket as nginx names it: the Nth http-socket of the live uwsgi.ini (map-socket N-1:N)."""
    ini = sh(container, "cat", "/etc/websocket/uwsgi.ini").stdout
    return [f"unix:{path}" for path in re.findall(r"^http-socket = (/\S+)$", ini, re.MULTILINE)]


def journal_pid(container: str, pid: int) -> list[str]:
    """The journal entries of one process (a worker), as JSON objects with the journal's fields."""
    return sh(container, "journalctl", f"_PID={pid}", "--no-pager", "-o", "json").stdout.splitlines()


def session(url: str, agent: str) -> tuple[websocket.WebSocket, str]:
    """A raw Engine.IO WebSocket through nginx with its own User-Agent (to find its access log line) and its sid."""
    ws = ws_connect(url, header=[f"User-Agent: {agent}"])
    opening = ws.recv()
    assert opening.startswith("0{")
    return ws, json.loads(opening[1:])["sid"]


def test_journal_lines_are_json_objects_with_worker_pid_level_and_event(url, container):
    # websocket_app_log_format: json (host_vars). Two app records at WARNING, from the worker that holds each
    # session: a frame that is no Engine.IO packet, and a Socket.IO event that is not JSON.
    token = f"json-{uuid.uuid4().hex[:12]}"
    workers = {row["sid_prefix"]: row for row in status(container)["workers"]}
    cursor = journal_cursor(container, "websocket")
    first, first_sid = session(url, token)
    second, second_sid = session(url, token)
    try:
        first.send(f"x{token}")
        second.send("40")
        assert second.recv().startswith("40{")
        second.send('42["message",')
        lines = wait_for(
            lambda: (
                (lines := journal_after(container, "websocket", cursor, "json"))
                and sum(token in line or second_sid in line for line in lines) >= 2
                and lines
            ),
            WAIT,
            "both warning lines",
        )
    finally:
        first.close()
        second.close()
    # A uWSGI line as well: its request log of a 404 (log-4xx), asked of worker 1's socket directly.
    sh(container, "python3", "-c", ASK_WORKER, worker_sockets(container)[0].removeprefix("unix:"), f"/{token}")
    lines = wait_for(
        lambda: (
            (lines := journal_after(container, "websocket", cursor, "json"))
            and any(f"/{token}" in line for line in lines)
            and lines
        ),
        WAIT,
        "uWSGI's request line",
    )
    entries = [json.loads(line) for line in lines]
    # Every line the journal got is one JSON object: the app's records and uWSGI's own lines alike.
    messages = [json.loads(entry["MESSAGE"]) for entry in entries]
    assert all(isinstance(message, dict) for message in messages)
    apps = [(entry, message) for entry, message in zip(entries, messages, strict=True) if "level" in message]
    # The role's worker layer (its WebSocket transport) closes both clients, each with one warning.
    cases = [(first_sid, f"'x{token}'"), (second_sid, f"closing client {second_sid}: bad Socket.IO packet")]
    for sid, needle in cases:
        ((entry, message),) = [(e, m) for e, m in apps if needle in m["event"]]
        worker = workers[sid_prefix(sid)]
        # The worker that holds the session wrote it: its pid and uWSGI worker id, in the object and to journald.
        assert (message["pid"], message["worker"]) == (worker["pid"], worker["worker"])
        assert int(entry["_PID"]) == worker["pid"]
        assert message["level"] == "WARNING"
        assert entry["PRIORITY"] == "4"  # the level as the journal's priority: `journalctl -p warning` finds it
        assert entry["SYSLOG_IDENTIFIER"] == "websocket"
        assert message["logger"] == "websocket_transport"
        assert set(message) >= {"time", "level", "logger", "pid", "worker", "event"}
    # The app's own records: each worker's ready line, written by that worker when it loaded the app.
    for worker in workers.values():
        ready = [json.loads(line) for line in journal_pid(container, worker["pid"])]
        ((entry, message),) = [
            (e, m) for e, m in ((e, json.loads(e["MESSAGE"])) for e in ready) if "ready: async_mode" in m["event"]
        ]
        assert (message["logger"], message["level"], entry["PRIORITY"]) == ("socketapp", "INFO", "6")
        assert (message["pid"], message["worker"]) == (worker["pid"], worker["worker"])
    (request,) = [m for m in messages if f"/{token}" in m.get("event", "")]
    assert request["logger"] == "uwsgi"
    assert "(HTTP/1.0 404)" in request["event"]
    assert set(request) == {"time", "logger", "event"}


def test_nginx_logs_the_worker_status_time_and_upgrade_of_a_websocket(url, container):
    agent = f"access-{uuid.uuid4().hex[:12]}"
    workers = {row["sid_prefix"]: row["worker"] for row in status(container)["workers"]}
    ws, sid = session(url, agent)
    try:
        ws.send("40")
        assert ws.recv().startswith("40{")
        ws.send('42["message","logged"]')
        assert ws.recv() == '42["message","logged"]'
    finally:
        ws.close()
    # nginx writes a WebSocket's line when it closes.
    line = wait_for(
        lambda: next((line for line in access_log(container) if agent in line), None), WAIT, "the access log line"
    )
    fields = dict(re.findall(r" (\w+)=(\S+)", line))
    assert '"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1" 101 ' in line
    # The worker that holds the session (its sid prefix) is the one nginx proxied to.
    assert fields["upstream"] == worker_sockets(container)[workers[sid_prefix(sid)] - 1]
    assert fields["upstream_status"] == "101"
    assert float(fields["request_time"]) > 0
    assert (fields["upgrade"], fields["connection"]) == ("websocket", "upgrade")


def access_log(container: str) -> list[str]:
    return sh(container, "tail", "-n", "200", "/var/log/nginx/access.log").stdout.splitlines()
