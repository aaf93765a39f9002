"""Disconnect clients that send what Engine.IO or Socket.IO cannot decode, or more events than their rate allows,
with one warning line each.

Unguarded, an undecodable WebSocket frame escapes python-engineio as a traceback and leaves its session behind until
the ping times out, and python-socketio logs a traceback for every undecodable packet while the sender stays
connected: one bad client could fill the journal. Other clients and the worker were never at risk; the log was.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import socketio

log = logging.getLogger("socketapp")

# Engine.IO v4 packet types a text frame can start with (open, close, ping, pong, message, upgrade, noop).
ENGINEIO_TYPES = frozenset("0123456")
# Socket.IO v5 packet types that need a joined namespace: event and ack (the binary ones are checked by the library).
EVENT_TYPES = frozenset("23")


def _peer(environ: dict[str, Any]) -> str:
    # nginx passes the client's address on; REMOTE_ADDR is nginx itself (or empty on a unix socket).
    return environ.get("HTTP_X_REAL_IP") or environ.get("REMOTE_ADDR") or "?"


class RateLimit:
    """A token bucket per client: `rate` packets a second on average, bursts of up to `burst`."""

    def __init__(self, rate: int, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens left, when they were counted)

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        tokens, then = self.buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        allowed = tokens >= 1
        self.buckets[client] = (tokens - 1 if allowed else tokens, now)
        return allowed

    def forget(self, client: str) -> None:
        self.buckets.pop(client, None)


def guarded_websocket(base: type) -> type:
    """The async mode's WebSocket class, ending the connection on a frame that is no Engine.IO packet."""

    class GuardedWebSocket(base):  # type: ignore[misc, valid-type]
        def __init__(self, handler: Any, server: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(handler, server, *args, **kwargs)
            self.max_size: int = server.max_http_buffer_size

        def wait(self) -> Any:
            try:
                message = super().wait()
            except UnicodeDecodeError:  # the uWSGI driver decodes binary frames by their first byte
                return self._refuse("not an Engine.IO packet: undecodable bytes")
            if isinstance(message, str) and message[:1] not in ENGINEIO_TYPES:
                return self._refuse(f"not an Engine.IO packet: {message[:40]!r}")
            if message is not None and len(message) > self.max_size:
                # Engine.IO would close it as well, silently; say why.
                unit = "bytes" if isinstance(message, bytes) else "characters"  # Engine.IO counts len() too
                return self._refuse(f"message of {len(message)} {unit} exceeds the maximum of {self.max_size}")
            return message

        def _refuse(self, why: str) -> None:
            log.warning("closing WebSocket from %s: %s", _peer(getattr(self, "environ", None) or {}), why)
            return None  # what the driver returns for a closed connection: Engine.IO ends the session

    GuardedWebSocket.__name__ = f"Guarded{base.__name__}"
    return GuardedWebSocket


def install(server: socketio.Server, rate: int, burst: int) -> None:
    """Guard one python-socketio server (and its Engine.IO server) against undecodable input and floods: a client
    that sends more than `rate` Socket.IO packets a second (bursts up to `burst`) is disconnected."""
    eio = server.eio
    # A copy: the async driver's table is shared by every server of the process.
    eio._async = dict(eio._async)
    if eio._async.get("websocket") is not None:
        eio._async["websocket"] = guarded_websocket(eio._async["websocket"])

    dispatch = server._handle_eio_message
    limit = RateLimit(rate, burst)

    def on_message(eio_sid: str, data: Any) -> None:
        if eio_sid not in eio.sockets:
            return  # closed already (by a refusal below): what it still had in flight is dropped, unlogged
        if not limit.allow(eio_sid):
            log.warning(
                "closing client %s from %s: more than %d events a second (bursts up to %d)",
                eio_sid,
                _peer(server.environ.get(eio_sid, {})),
                rate,
                burst,
            )
            eio.disconnect(eio_sid)
            return
        try:
            # python-socketio drops events for a namespace the client never joined and keeps the client; the
            # reference server (socket.io for Node) closes it, and so do we.
            if isinstance(data, str) and data[:1] in EVENT_TYPES:
                namespace = data[1:].split(",", 1)[0] if data[1:2] == "/" else "/"
                if server.manager.sid_from_eio_sid(eio_sid, namespace) is None:
                    raise ValueError(f"event for namespace {namespace!r}, which the client has not joined")
            dispatch(eio_sid, data)
        except ValueError as error:  # python-socketio's rejections, invalid JSON, unexpected binary data
            log.warning(
                "closing client %s from %s: bad Socket.IO packet: %s",
                eio_sid,
                _peer(server.environ.get(eio_sid, {})),
                error,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            eio.disconnect(eio_sid)

    eio.on("message", on_message)
    handle_disconnect = server._handle_eio_disconnect

    def on_disconnect(eio_sid: str, reason: Any = None) -> None:
        limit.forget(eio_sid)
        handle_disconnect(eio_sid, reason)

    eio.on("disconnect", on_disconnect)
