"""Metrics: a real Prometheus (Debian's, on cluster-lb, prepare.yml) scrapes every app host, nginx and Redis, and its
queries add up to what the clients really hold and send."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from containers import sh
from testlib import Client, clients, http_get, sid_prefix

PROMETHEUS = "http://127.0.0.1:19090"
LB_URL = "http://127.0.0.1:18081"
APP_HOSTS = ("cluster-app1", "cluster-app2")
WORKERS = {
    ("cluster-app1", 1): "http://127.0.0.1:25001",
    ("cluster-app1", 2): "http://127.0.0.1:25002",
    ("cluster-app2", 1): "http://127.0.0.1:26001",
    ("cluster-app2", 2): "http://127.0.0.1:26002",
}
# Longer than a few scrape intervals (2 s) plus the workers' 1 s writes; a deadline, not a speed assertion.
SETTLE = 60.0
# A worker's write (1 s) and two scrapes (2 s each): after this long Prometheus has seen what happened before.
FRESH = 5.0


def query(promql: str) -> list[tuple[dict[str, str], float]]:
    """An instant query: (labels, value) of each series."""
    status, body = http_get(f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert status == 200, body
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return [(item["metric"], float(item["value"][1])) for item in answer["data"]["result"]]


def scalar(promql: str) -> float | None:
    series = query(promql)
    return series[0][1] if series else None


def eventually(promql: str, holds: Callable[[Any], bool], transform: Callable = scalar) -> Any:
    """The query's answer once `holds` accepts it; the last answer in the failure message otherwise."""
    deadline = time.monotonic() + SETTLE
    while True:
        answer = transform(promql)
        if holds(answer) or time.monotonic() > deadline:
            assert holds(answer), f"{promql} = {answer}"
            return answer
        time.sleep(1)


def by_host(promql: str) -> dict[str, float]:
    return {labels.get("host", "?"): value for labels, value in query(promql)}


def test_prometheus_scrapes_every_target_of_the_bundle():
    expected = {
        ("websocket", "cluster-app1"),
        ("websocket", "cluster-app2"),
        ("nginx", "cluster-lb"),
        ("redis", "cluster-redis1"),
        ("redis", "cluster-redis2"),
        ("redis", "cluster-redis3"),
    }
    up = eventually(
        "up",
        lambda series: {(labels["service"], labels["host"]) for labels, value in series if value == 1} == expected,
        transform=query,
    )
    assert len(up) == len(expected), up
    # The list Prometheus reads was written by the converge (playbooks/monitoring.yml), from the inventory.
    targets = sh("cluster-lb", "cat", "/etc/prometheus/websocket-targets.yml").stdout
    assert "playbooks/monitoring.yml" in targets


def test_the_total_of_connected_clients_across_hosts_is_what_the_clients_hold():
    # Nothing left from the other tests: every session they opened is closed.
    eventually("sum(websocket_clients)", lambda total: total == 0)
    held: list[Client] = []
    try:
        # Three on every worker directly, and nine through the load balancer: 21 WebSocket clients on two hosts.
        for url in WORKERS.values():
            held += [Client(url).connect() for _ in range(3)]
        with clients(LB_URL, 9) as balanced:
            held += balanced
            assert {client.sio.transport() for client in held} == {"websocket"}
            prefixes = {row_prefix: host for (host, _), row_prefix in worker_prefixes().items()}
            per_host = Counter(prefixes[sid_prefix(client.sio.eio.sid)] for client in held)
            assert set(per_host) == set(APP_HOSTS)
            total = eventually("sum(websocket_clients)", lambda total: total == len(held))
            assert total == 21
            assert by_host("sum by (host) (websocket_clients)") == {h: float(n) for h, n in per_host.items()}
            assert scalar("sum(websocket_connections)") == len(held)  # all of them over WebSocket
            # The uWSGI view agrees: every open WebSocket holds an async core of its worker.
            assert scalar("sum(websocket_worker_busy_cores)") >= len(held)
            # nginx holds the nine balanced ones (and the scrapes of its exporter).
            assert scalar("nginx_connections_active") >= 9
    finally:
        for client in held:
            client.close()
    # Disconnects are counted too: the total goes back to nothing.
    eventually("sum(websocket_clients)", lambda total: total == 0)


def worker_prefixes() -> dict[tuple[str, int], str]:
    from containers import status

    return {(host, row["worker"]): row["sid_prefix"] for host in APP_HOSTS for row in status(host)["workers"]}


def test_messages_in_and_out_and_the_fan_out_of_a_broadcast_are_counted():
    opened = {key: Client(url).connect() for key, url in WORKERS.items()}
    try:
        eventually("sum(websocket_clients)", lambda total: total == len(opened))
        time.sleep(FRESH)  # their Socket.IO CONNECT packets counted and scraped too
        received = scalar("sum(websocket_messages_received_total)")
        sent = scalar("sum(websocket_messages_sent_total)")
        emits = scalar("sum(websocket_emits_total)")
        recipients = scalar("sum(websocket_emit_recipients_total)")
        echoer = opened[("cluster-app2", 1)]
        for n in range(10):
            assert echoer.echo(f"echo-{n}") == f"echo-{n}"
        token = str(uuid.uuid4())
        opened[("cluster-app1", 1)].sio.emit("broadcast", token)
        for client in opened.values():
            assert client.next("broadcast") == token
        # 10 echoes and 1 broadcast in; 10 echoes and the broadcast to 4 clients out.
        eventually("sum(websocket_messages_received_total)", lambda value: value == received + 11)
        eventually("sum(websocket_messages_sent_total)", lambda value: value == sent + 14)
        # Each echo is an emit to its sender; the broadcast is one emit on each of the 4 workers (through Redis).
        eventually("sum(websocket_emits_total)", lambda value: value == emits + 14)
        eventually("sum(websocket_emit_recipients_total)", lambda value: value == recipients + 14)
        # Every worker is subscribed to the message queue.
        assert scalar("sum(websocket_message_queue_subscribed)") == len(WORKERS)
    finally:
        for client in opened.values():
            client.close()


def test_each_workers_memory_and_respawns_are_there_and_a_killed_worker_counts():
    rss = query("websocket_worker_rss_bytes")
    assert {(labels["host"], labels["worker"]) for labels, _ in rss} == {(h, str(w)) for h, w in WORKERS}
    assert all(value > 10 * 1024 * 1024 for _, value in rss), rss
    before = scalar('sum(websocket_worker_respawns_total{host="cluster-app2"})')
    pid = json.loads(http_get(f"{WORKERS[('cluster-app2', 2)]}/healthz")[1])["pid"]
    sh("cluster-app2", "kill", "-9", str(pid))
    eventually('sum(websocket_worker_respawns_total{host="cluster-app2"})', lambda value: value == before + 1)
    # The respawned worker serves and reports again.
    eventually('count(websocket_worker_rss_bytes{host="cluster-app2"})', lambda value: value == 2)


def test_redis_and_its_pub_sub_are_watched():
    # Every Redis host is up; every worker of both hosts subscribes to the app's channel on the primary.
    assert eventually("min(redis_up)", lambda value: value == 1) == 1
    assert eventually("count(redis_up)", lambda value: value == 3) == 3
    assert eventually("max(redis_pubsub_channels)", lambda value: value is not None and value >= 1) >= 1
    assert scalar("max(redis_connected_clients)") >= len(WORKERS)


@pytest.mark.parametrize(
    ("source", "target", "port", "admitted"),
    [
        ("cluster-lb", "cluster-app1", 9290, True),
        ("cluster-redis1", "cluster-app1", 9290, False),
        ("cluster-app2", "cluster-app1", 9290, False),
        ("cluster-lb", "cluster-redis1", 9121, True),
        ("cluster-app1", "cluster-redis1", 9121, False),
        ("cluster-redis2", "cluster-redis1", 9121, False),
        ("cluster-app1", "cluster-lb", 9113, False),
    ],
)
def test_only_the_monitoring_host_reaches_the_metrics(source, target, port, admitted):
    probe = (
        "import urllib.request\n"
        "try:\n"
        f"    body = urllib.request.urlopen('http://{target}:{port}/metrics', timeout=3).read().decode()\n"
        "    print('reached', len(body))\n"
        "except OSError as error:\n"
        "    print('refused', error)\n"
    )
    answer = sh(source, "python3", "-c", probe, check=False).stdout.strip()
    assert answer.startswith("reached") is admitted, answer


@pytest.mark.parametrize(("host", "port"), [("cluster-app1", 9290), ("cluster-lb", 9113), ("cluster-redis2", 9121)])
def test_the_metrics_listen_on_the_private_address_only(host, port):
    listening = sh(host, "ss", "-Hltn").stdout
    addresses = re.findall(rf"(\S+):{port}\s", listening)
    assert addresses, listening
    assert not [a for a in addresses if a in ("0.0.0.0", "*", "[::]", "127.0.0.1")], addresses
