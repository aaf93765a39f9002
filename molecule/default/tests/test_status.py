"""The fleet status (playbooks/status.yml) against the converged scenario: its table and its JSON document hold the
real values (the clients this test holds, the live release, the workers' pids), and it changes nothing."""

from __future__ import annotations

import json
import re

import pytest

from containers import playbook, sh, status
from faultlib import wait_for, wait_healthy
from testlib import WAIT, clients

HELD = 3


def settled_connections(container: str, expected: int) -> int:
    """Wait until the workers count `expected` open connections (clients of earlier tests may still be closing)."""
    return wait_for(
        lambda: status(container, health=False)["connections"] == expected or None, WAIT, f"{expected} connections"
    )


def table(output: str) -> tuple[list[str], list[str]]:
    """The message of the playbook's last task (the YAML block after `msg: |-`): the workers' table and the load
    balancers' table, each with its header line."""
    block = output.split("msg: |-\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line.strip() and not line.startswith("    "):
            break
        lines.append(line.strip())
    blank = lines.index("")
    return lines[:blank], [line for line in lines[blank + 1 :] if line]


@pytest.fixture(scope="module")
def live_release(container: str) -> str:
    return sh(container, "readlink", "/opt/websocket/current").stdout.strip().rsplit("/", 1)[1]


def test_the_table_shows_each_worker_with_the_clients_held_and_the_load_balancers_view(url, container, live_release):
    settled_connections(container, 0)
    workers = {row["worker"]: row for row in status(container)["workers"]}
    with clients(url, HELD):
        settled_connections(container, HELD)
        run = playbook("playbooks/status.yml")
    assert run.rc == 0, run.output[-3000:]
    assert run.recap(container)["changed"] == 0
    lines, view = table(run.output)
    assert lines[0].split() == [
        "host", "release", "worker", "pid", "status", "clients", "rss_mb", "respawns", "health", "message_queue",
        "queue_primary",
    ]  # fmt: skip
    rows = [line.split() for line in lines[1:] if line.startswith(container)]
    assert len(rows) == len(workers)  # one row per worker of the one app host
    for host, release, worker, pid, _, _, rss_mb, _, health, queue, primary in rows[: len(workers)]:
        assert (host, release) == (container, live_release)
        assert int(pid) == workers[int(worker)]["pid"]
        assert float(rss_mb) > 1
        # Subscribed on the one Redis, on this host (over loopback).
        assert (health, queue, primary) == ("200", "subscribed", "127.0.0.1:6379")
    # Each client holds one connection on some worker: the clients column adds up to the clients held.
    assert sum(int(row[5]) for row in rows) == HELD
    assert f"{HELD} clients on {len(workers)} workers of 1 app host" in lines
    # The load balancer (nginx runs here too) reaches every worker over its socket.
    assert view[0].split() == ["load_balancer", "host", "worker", "socket", "health", "up"]
    assert [line.split() for line in view[1:]] == [
        [container, container, str(n), f"unix:/run/websocket-sockets/worker-{n}.sock", "200", "yes"]
        for n in sorted(workers)
    ]


def test_json_for_scripts_holds_the_same_and_check_mode_changes_nothing(url, container, live_release, monkeypatch):
    # As docs/operations.md tells scripts to read it: the json callback, the last task's message.
    monkeypatch.setenv("ANSIBLE_STDOUT_CALLBACK", "ansible.posix.json")
    settled_connections(container, 0)
    with clients(url, HELD):
        settled_connections(container, HELD)
        run = playbook("playbooks/status.yml", "-e", "websocket_status_format=json", "--check", "--diff")
    assert run.rc == 0, run.output[-3000:]
    # The document is stdout; whatever Ansible warned on stderr follows it.
    report, _ = json.JSONDecoder().raw_decode(run.output, run.output.index("{"))
    assert report["stats"][container]["changed"] == 0
    document = json.loads(report["plays"][0]["tasks"][-1]["hosts"][container]["msg"])
    assert document["connections"] == HELD
    (host,) = document["hosts"]
    assert (host["host"], host["release"], host["error"], host["connections"]) == (container, live_release, None, HELD)
    live = status(container)
    assert host["master_pid"] == live["master_pid"]
    assert [row["pid"] for row in host["workers"]] == [row["pid"] for row in live["workers"]]
    assert all(row["health"] == 200 and row["message_queue"] == "subscribed" for row in host["workers"])
    assert {row["queue_primary"] for row in host["workers"]} == {"127.0.0.1:6379"}
    assert sum(row["connections"] for row in host["workers"]) == HELD
    assert [(lb["load_balancer"], lb["socket"], lb["health"], lb["up"]) for lb in document["load_balancers"]] == [
        (container, f"unix:/run/websocket-sockets/worker-{row['worker']}.sock", 200, True) for row in live["workers"]
    ]


def test_a_stopped_service_shows_in_both_tables(url, container):
    count = len(status(container)["workers"])
    sh(container, "systemctl", "stop", "websocket")
    try:
        run = playbook("playbooks/status.yml")
    finally:
        sh(container, "systemctl", "start", "websocket")
        wait_healthy(container, url, count)
    assert run.rc == 0, run.output[-3000:]
    lines, view = table(run.output)
    (row,) = lines[1:-1]
    assert row.startswith(f"{container} no status: cannot read /run/websocket/stats.sock")
    assert "is the service running?" in row
    # No load balancer reaches a worker now: nginx could not either.
    assert [tuple(line.split()[-2:]) for line in view[1:]] == [("-1", "NO")] * count


def test_an_unknown_format_is_refused_by_name(container):
    run = playbook("playbooks/status.yml", "-e", "websocket_status_format=xml")
    assert run.rc != 0
    assert re.search(r"websocket_status_format\s+must\s+be\s+table\s+or\s+json,\s+not\s+xml", run.folded)
