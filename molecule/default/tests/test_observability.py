"""What an operator reads: the status helper, /healthz and the journal."""

from __future__ import annotations

import time
import uuid

from containers import sh, status
from testlib import clients


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
    requests = [line for line in journal.splitlines() if line.startswith("[pid: ")]
    assert not [line for line in requests if "(HTTP/1.1 2" in line or "(HTTP/1.1 101" in line]
