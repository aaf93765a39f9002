"""Helpers for the Molecule verify suites: real Socket.IO clients and commands inside the test containers."""

from __future__ import annotations

import queue
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any

import requests
import socketio
import websocket

WAIT = 10.0  # seconds to wait for an expected event; a wait, not a speed assertion
ENGINEIO_PATH = "/socket.io/?EIO=4&transport=websocket"


def _serialize_tls_io() -> None:
    """Keep python-engineio's reader and writer threads from using one TLS connection at the same time.

    python-engineio's client reads a WebSocket in one thread while another writes to it; websocket-client locks
    writers against each other only. Over TLS a read and a write on one OpenSSL object at once corrupts the stream:
    nginx dropped about 3% of such connections mid-session (a Node socket.io-client, single-threaded, lost 0 of 150
    against the same server). Reads wait for data outside the lock, then read under it.
    """
    import select
    import threading

    recv, send = websocket.WebSocket.recv, websocket.WebSocket.send

    def lock_of(ws: websocket.WebSocket) -> threading.RLock:
        return ws.__dict__.setdefault("_tls_io", threading.RLock())

    def locked_recv(self: websocket.WebSocket) -> Any:
        sock = self.sock
        if not isinstance(sock, ssl.SSLSocket):
            return recv(self)
        while self.sock is sock and not sock.pending():
            if select.select([sock], [], [], 0.2)[0]:
                break
        with lock_of(self):
            return recv(self)

    def locked_send(self: websocket.WebSocket, payload: Any, opcode: int = websocket.ABNF.OPCODE_TEXT) -> int:
        if not isinstance(self.sock, ssl.SSLSocket):
            return send(self, payload, opcode)
        with lock_of(self):
            return send(self, payload, opcode)

    websocket.WebSocket.recv = locked_recv
    websocket.WebSocket.send = locked_send


_serialize_tls_io()


def insecure_tls() -> ssl.SSLContext:
    """TLS without certificate checks: the scenarios serve a self-signed pair (its identity is tested on its own)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class Response:
    status: int
    headers: Message
    body: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # hand the 3xx to the caller


def http_request(
    url: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    follow_redirects: bool = False,
) -> Response:
    """One HTTP(S) request; any status (4xx, 5xx, 3xx unless followed) comes back as a Response."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPSHandler(context=insecure_tls())]
    if not follow_redirects:
        handlers.append(_NoRedirect())
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.build_opener(*handlers).open(request, timeout=WAIT) as response:
            return Response(response.status, response.headers, response.read().decode())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.headers, error.read().decode())


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    response = http_request(url, headers=headers, follow_redirects=True)
    return response.status, response.body


def ws_connect(url: str, origin: str | None = None, **options: Any) -> websocket.WebSocket:
    """A raw Engine.IO WebSocket (websocket-client) to a site URL (http/https, turned into ws/wss)."""
    ws_url = url.replace("http", "ws", 1) + ENGINEIO_PATH
    if ws_url.startswith("wss:"):
        options.setdefault("sslopt", {"cert_reqs": ssl.CERT_NONE, "check_hostname": False})
    return websocket.create_connection(ws_url, origin=origin, timeout=WAIT, **options)


def sid_prefix(sid: str) -> str:
    """The worker prefix of an Engine.IO session id (the role's websocket_sid module puts it before a dot)."""
    return sid.split(".")[0]


class Client:
    """A python-socketio client that records what it receives, per event, in queues."""

    def __init__(self, url: str, transports: list[str] | None = None, **options: Any) -> None:
        self.url = url
        self.transports = transports or ["websocket"]
        if url.startswith("https:") and "http_session" not in options and not options.get("ssl_verify", False):
            # The scenarios' pair is self-signed. trust_env off: REQUESTS_CA_BUNDLE would turn verification back on.
            session = requests.Session()
            session.verify = False
            session.trust_env = False
            options.update(ssl_verify=False, http_session=session)
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
