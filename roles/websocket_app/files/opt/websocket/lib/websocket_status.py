"""Prints a service's uWSGI workers: connections, requests, memory (from the stats server), and each worker's own
answer to the health path (with the bundled app, its message-queue subscription and the Redis primary it is on).

Each WebSocket holds one gevent async core for its lifetime, so busy cores are open connections.
Usage: <service>-status [--json] [--no-health]   (--no-health: do not ask the workers, for quick polling)
The role installs this module in <root>/lib and a <service>-status command that calls main() with the service's
settings (templates/usr/local/bin/websocket-status.j2).
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

COLUMNS = [
    "worker", "sid_prefix", "pid", "status", "connections", "async_cores", "requests", "exceptions", "respawns",
    "rss_mb", "health", "message_queue", "queue_primary",
]  # fmt: skip


@dataclass(frozen=True)
class Config:
    stats: str  # the uWSGI stats server's unix socket
    sid_prefixes: list[str]  # worker N prefixes its session ids with the Nth (nginx routes a session's requests by it)
    sockets: list[str]  # worker N serves the Nth socket (map-socket): unix:<path> or <address>:<port>
    health_path: str


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def health(config: Config, worker_id: int) -> tuple[int | str | None, Any, Any]:
    """(HTTP status or the error, message_queue and message_queue_primary from a JSON body or None) of the worker's
    health path."""
    if not 0 < worker_id <= len(config.sockets):
        return None, None, None
    address = config.sockets[worker_id - 1]
    if address.startswith("unix:"):
        connection: http.client.HTTPConnection = UnixHTTPConnection(address[len("unix:") :], timeout=2)
    else:
        host, port = address.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        connection.request("GET", config.health_path)
        response = connection.getresponse()
        body = response.read()
    except OSError as error:
        return type(error).__name__, None, None
    finally:
        connection.close()
    try:
        answer = json.loads(body)
        queue, primary = answer.get("message_queue"), answer.get("message_queue_primary")
    except (ValueError, AttributeError):
        queue = primary = None
    return response.status, queue, primary


def read_stats(path: str) -> dict[str, Any]:
    client = socket.socket(socket.AF_UNIX)
    client.connect(path)
    data = b""
    while chunk := client.recv(65536):
        data += chunk
    return json.loads(data)


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def workers(config: Config, stats: dict[str, Any], ask_health: bool = True) -> Iterator[dict[str, Any]]:
    for worker in stats["workers"]:
        number, cores = worker["id"], worker.get("cores", [])
        status, queue, primary = health(config, number) if ask_health and worker["pid"] > 0 else (None, None, None)
        yield {
            "worker": number,
            "sid_prefix": config.sid_prefixes[number - 1] if 0 < number <= len(config.sid_prefixes) else None,
            "pid": worker["pid"],
            "status": worker["status"],
            "connections": sum(core.get("in_request", 0) for core in cores),
            "async_cores": len(cores),
            "requests": worker["requests"],
            "exceptions": worker["exceptions"],
            "respawns": worker["respawn_count"],
            "rss_mb": rss_mb(worker["pid"]),
            "health": status,
            "message_queue": queue,
            "queue_primary": primary,
        }


def cell(value: Any) -> str:
    """A table cell: a dash where there is no value (not asked, no answer), not Python's None."""
    return "-" if value is None else str(value)


def main(argv: list[str], config: Config) -> int:
    try:
        stats = read_stats(config.stats)
    except OSError as error:
        print(f"cannot read {config.stats}: {error} (is the service running?)", file=sys.stderr)
        return 1
    rows = list(workers(config, stats, ask_health="--no-health" not in argv))
    summary = {
        "master_pid": stats["pid"],
        # The master's working directory (uWSGI's chdir): where the workers run from.
        "cwd": stats.get("cwd"),
        "listen_queue": stats.get("listen_queue", 0),
        "listen_queue_errors": stats.get("listen_queue_errors", 0),
        "connections": sum(row["connections"] for row in rows),
        "workers": rows,
    }
    if "--json" in argv:
        print(json.dumps(summary, indent=2))
        return 0
    print("  ".join(f"{c:>11}" for c in COLUMNS))
    for row in rows:
        print("  ".join(f"{cell(row[c]):>11}" for c in COLUMNS))
    print(
        f"master {summary['master_pid']}: {summary['connections']} connections,"
        f" listen queue {summary['listen_queue']} (errors {summary['listen_queue_errors']})"
    )
    return 0
