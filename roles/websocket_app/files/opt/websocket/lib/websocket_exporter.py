"""Serves a uWSGI WebSocket service's metrics in Prometheus' text format, for any app the role deploys.

Usage: websocket_exporter.py --stats SOCKET --metrics-dir DIR --listen ADDRESS:PORT
Run by the role's <service>-metrics unit with Debian's python3-prometheus-client. At each scrape it reads the uWSGI
stats server (websocket_status.py's reader: workers, pids, busy cores, requests, respawns, RSS) and the figures each
live worker wrote (websocket_metrics.py: sessions, messages, emits, message-queue subscription), and labels every
per-worker sample with the worker's number. The host is the scrape target's (Prometheus' `instance`, or the labels
the target list gives).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from websocket_status import Config, read_stats, workers

# Worker figures (websocket_metrics.py's names) -> (metric name without _total, help, counter?)
WORKER_FIGURES = {
    "connects": ("websocket_connects", "Engine.IO sessions opened (clients connected)", True),
    "disconnects": ("websocket_disconnects", "Engine.IO sessions closed (clients disconnected)", True),
    "received": ("websocket_messages_received", "Engine.IO MESSAGE packets received from clients", True),
    "sent": ("websocket_messages_sent", "Engine.IO MESSAGE packets sent to clients", True),
    "emits": ("websocket_emits", "Socket.IO emits delivered by this worker (its own and the message queue's)", True),
    "broadcasts": ("websocket_broadcasts", "Emits that reached more than one client of this worker", True),
    "emit_recipients": (
        "websocket_emit_recipients",
        "Clients the emits reached (fan-out: its rate over websocket_emits_total's)",
        True,
    ),
    "websockets_opened": ("websocket_websockets_opened", "WebSocket connections opened (handshakes)", True),
}


def worker_files(directory: str) -> Iterator[dict[str, Any]]:
    """Every worker file that parses (a worker may be writing its first one)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.startswith("worker-") and name.endswith(".json"):
            try:
                with open(os.path.join(directory, name)) as data:
                    yield json.load(data)
            except (OSError, ValueError):
                continue


class ServiceCollector:
    """One scrape: the stats server, then the files of the workers it lists as alive."""

    def __init__(self, stats: str, metrics_dir: str) -> None:
        self.config = Config(stats=stats, sid_prefixes=[], sockets=[], health_path="")
        self.metrics_dir = metrics_dir

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("websocket_up", "Whether the uWSGI stats server answered (the service runs)")
        try:
            stats = read_stats(self.config.stats)
        except (OSError, ValueError):
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        rows = list(workers(self.config, stats, ask_health=False))
        alive = {row["pid"]: str(row["worker"]) for row in rows if row["pid"] > 0}
        families: list[Metric] = [up]

        def gauge(name: str, doc: str, samples: Iterable[tuple[str, float]]) -> None:
            family = GaugeMetricFamily(name, doc, labels=["worker"])
            for worker, value in samples:
                family.add_metric([worker], value)
            families.append(family)

        def counter(name: str, doc: str, samples: Iterable[tuple[str, float]]) -> None:
            family = CounterMetricFamily(name, doc, labels=["worker"])
            for worker, value in samples:
                family.add_metric([worker], value)
            families.append(family)

        live = [row for row in rows if row["pid"] > 0]
        gauge("websocket_worker_busy_cores", "uWSGI async cores in a request (one per open WebSocket or poll)",
              [(str(r["worker"]), r["connections"]) for r in live])  # fmt: skip
        gauge("websocket_worker_async_cores", "uWSGI async cores of the worker (its connection cap)",
              [(str(r["worker"]), r["async_cores"]) for r in live])  # fmt: skip
        gauge("websocket_worker_rss_bytes", "Resident memory of the worker process",
              [(str(r["worker"]), r["rss_mb"] * 1024 * 1024) for r in live if r["rss_mb"] is not None])  # fmt: skip
        counter("websocket_worker_requests", "Requests the worker served (uWSGI)",
                [(str(r["worker"]), r["requests"]) for r in rows])  # fmt: skip
        counter("websocket_worker_exceptions", "Exceptions uWSGI saw in the worker",
                [(str(r["worker"]), r["exceptions"]) for r in rows])  # fmt: skip
        counter("websocket_worker_respawns", "Times uWSGI respawned the worker since the master started",
                [(str(r["worker"]), r["respawns"]) for r in rows])  # fmt: skip
        listen = GaugeMetricFamily("websocket_listen_queue", "Connections waiting in the sockets' listen queue")
        listen.add_metric([], stats.get("listen_queue", 0))
        errors = CounterMetricFamily("websocket_listen_queue_errors", "Connections the full listen queue refused")
        errors.add_metric([], stats.get("listen_queue_errors", 0))
        families += [listen, errors]

        # The figures of the workers alive now; a dead worker's file stays until its successor replaces it.
        figures = [d for d in worker_files(self.metrics_dir) if alive.get(d.get("pid")) == str(d.get("worker"))]
        gauge("websocket_clients", "Connected clients: Engine.IO sessions open on the worker (WebSocket or polling)",
              [(str(d["worker"]), d["connects"] - d["disconnects"]) for d in figures])  # fmt: skip
        gauge("websocket_connections", "WebSocket connections open on the worker",
              [(str(d["worker"]), d["websockets_opened"] - d["websockets_closed"]) for d in figures])  # fmt: skip
        for key, (name, doc, _) in WORKER_FIGURES.items():
            counter(name, doc, [(str(d["worker"]), d[key]) for d in figures if key in d])
        gauge("websocket_message_queue_subscribed",
              "Whether the worker is subscribed to the message queue (absent without a queue)",
              [(str(d["worker"]), 1 if d["message_queue"] == "subscribed" else 0)
               for d in figures if d.get("message_queue") is not None])  # fmt: skip
        return families


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would fill the journal


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stats", required=True, help="the uWSGI stats server's unix socket")
    parser.add_argument("--metrics-dir", required=True, help="where the workers write their figures")
    parser.add_argument("--listen", required=True, help="ADDRESS:PORT (an IPv6 address in brackets)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    address, _, port = args.listen.rpartition(":")
    address = address.strip("[]")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(args.stats, args.metrics_dir))
    Server.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
    httpd = make_server(address, int(port), make_wsgi_app(registry), Server, handler_class=QuietHandler)
    print(f"serving metrics on http://{args.listen}/metrics", file=sys.stderr, flush=True)
    httpd.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
