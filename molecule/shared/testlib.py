"""Helpers for the Molecule verify suites: real Socket.IO clients and commands inside the test containers."""

from __future__ import annotations

import json
import queue
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import socketio

WAIT = 10.0  # seconds to wait for an expected event; a wait, not a speed assertion


def sh(container: str, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command inside a test container as root."""
    return subprocess.run(
        ["podman", "exec", container, *command], capture_output=True, text=True, check=check, timeout=120
    )


def uwsgi_stats(container: str, stats_socket: str = "/run/websocket/stats.sock") -> dict[str, Any]:
    """The JSON the uWSGI stats server writes on connect."""
    reader = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); d=b''\n"
        "while (b:=s.recv(65536)): d+=b\n"
        "sys.stdout.write(d.decode())\n"
    )
    return json.loads(sh(container, "python3", "-c", reader, stats_socket).stdout)


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Client:
    """A python-socketio client that records what it receives, per event, in queues."""

    def __init__(self, url: str, transports: list[str] | None = None, **options: Any) -> None:
        self.url = url
        self.transports = transports or ["websocket"]
        self.sio = socketio.Client(reconnection_delay=0.5, reconnection_delay_max=2, **options)
        self.events: dict[str, queue.Queue[Any]] = {name: queue.Queue() for name in ("message", "broadcast")}
        self.connects: queue.Queue[str] = queue.Queue()
        self.connected_at: list[float] = []  # monotonic time of every (re)connect
        for name, box in self.events.items():
            self.sio.on(name, box.put)
        self.sio.on("connect", self._on_connect)

    def _on_connect(self) -> None:
        self.connected_at.append(time.monotonic())
        self.connects.put(self.sio.transport())

    def connect(self) -> Client:
        self.sio.connect(self.url, transports=self.transports, wait_timeout=WAIT)
        self.connects.get(timeout=WAIT)
        return self

    def next(self, event: str, timeout: float = WAIT) -> Any:
        return self.events[event].get(timeout=timeout)

    def echo(self, data: Any) -> Any:
        self.sio.send(data)
        return self.next("message")

    def close(self) -> None:
        self.sio.disconnect()


@contextmanager
def clients(url: str, count: int = 1, **options: Any) -> Iterator[list[Client]]:
    opened: list[Client] = []
    try:
        for _ in range(count):
            opened.append(Client(url, **options).connect())
        yield opened
    finally:
        for client in opened:
            client.close()
