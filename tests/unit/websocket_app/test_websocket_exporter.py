"""websocket_exporter (the <service>-metrics unit) and websocket_metrics (each worker's file): what one scrape serves
from a fake uWSGI stats server and the files workers wrote, in Prometheus' text format."""

from __future__ import annotations

import json
import os
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from websocket_exporter import ServiceCollector
from websocket_metrics import snapshot, write
from websocket_transport import Counts

OWN = os.getpid()  # the workers' pids: this process, so that /proc has their memory
STATS = {
    "pid": 4242,
    "listen_queue": 2,
    "listen_queue_errors": 5,
    "workers": [
        {"id": 1, "pid": OWN, "status": "idle", "requests": 10, "exceptions": 0, "respawn_count": 1,
         "cores": [{"in_request": 1}, {"in_request": 1}, {"in_request": 0}]},
        {"id": 2, "pid": 0, "status": "cheap", "requests": 3, "exceptions": 1, "respawn_count": 4, "cores": []},
    ],
}  # fmt: skip


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class StatsHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(json.dumps(STATS).encode())


@pytest.fixture
def stats(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "stats.sock")
    server = UnixServer(path, StatsHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield path
    server.shutdown()
    server.server_close()


def scrape(stats: str, metrics_dir: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, labels) -> value of one scrape, parsed back from the text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(stats, str(metrics_dir)))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def counts(**figures: int) -> Counts:
    result = Counts()
    for name, value in figures.items():
        setattr(result, name, value)
    return result


def test_a_live_workers_file_is_served_with_the_stats_servers_figures(stats: str, tmp_path: Path) -> None:
    live = counts(connects=7, disconnects=2, received=40, sent=55, emits=12, emit_recipients=30, broadcasts=3,
                  websockets_opened=6, websockets_closed=1)  # fmt: skip
    write(str(tmp_path / "worker-1.json"), snapshot(live, 1))
    # Worker 2 is respawning (pid 0): the file its predecessor left is not served.
    write(str(tmp_path / "worker-2.json"), snapshot(counts(connects=99), 2) | {"pid": OWN + 1})
    samples = scrape(stats, tmp_path)
    one = (("worker", "1"),)
    assert samples[("websocket_up", ())] == 1
    assert samples[("websocket_clients", one)] == 5
    assert samples[("websocket_connections", one)] == 5
    assert samples[("websocket_connects_total", one)] == 7
    assert samples[("websocket_messages_received_total", one)] == 40
    assert samples[("websocket_messages_sent_total", one)] == 55
    assert samples[("websocket_emit_recipients_total", one)] == 30
    assert samples[("websocket_broadcasts_total", one)] == 3
    assert ("websocket_clients", (("worker", "2"),)) not in samples
    # From the stats server: cores and memory of live workers, counts of every worker.
    assert samples[("websocket_worker_busy_cores", one)] == 2
    assert samples[("websocket_worker_async_cores", one)] == 3
    assert samples[("websocket_worker_rss_bytes", one)] > 1024 * 1024
    assert samples[("websocket_worker_respawns_total", (("worker", "2"),))] == 4
    assert samples[("websocket_worker_exceptions_total", (("worker", "2"),))] == 1
    assert samples[("websocket_listen_queue", ())] == 2
    assert samples[("websocket_listen_queue_errors_total", ())] == 5
    # No message queue known: no subscription sample.
    assert not [key for key in samples if key[0] == "websocket_message_queue_subscribed"]


def test_the_subscription_of_a_pub_sub_manager_is_served(stats: str, tmp_path: Path, monkeypatch) -> None:
    import websocket_metrics

    manager = SimpleNamespace(channel="flask-socketio", subscription="down")
    monkeypatch.setattr(websocket_metrics, "SERVERS", [SimpleNamespace(manager=manager)])
    write(str(tmp_path / "worker-1.json"), snapshot(counts(), 1))
    assert scrape(stats, tmp_path)[("websocket_message_queue_subscribed", (("worker", "1"),))] == 0
    manager.subscription = "subscribed"
    write(str(tmp_path / "worker-1.json"), snapshot(counts(), 1))
    assert scrape(stats, tmp_path)[("websocket_message_queue_subscribed", (("worker", "1"),))] == 1


def test_a_stopped_service_is_down_and_nothing_else(tmp_path: Path) -> None:
    write(str(tmp_path / "worker-1.json"), snapshot(counts(connects=1), 1))
    samples = scrape(str(tmp_path / "missing.sock"), tmp_path)
    assert samples == {("websocket_up", ()): 0}


def test_a_half_written_file_is_skipped(stats: str, tmp_path: Path) -> None:
    (tmp_path / "worker-1.json").write_text('{"worker": 1, "pid": ')
    samples = scrape(stats, tmp_path)
    assert samples[("websocket_up", ())] == 1
    assert not [key for key in samples if key[0] == "websocket_clients"]
