"""Socket.IO event handlers: echo, broadcast, connection bookkeeping."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from flask import current_app, request
from flask_socketio import SocketIO, emit, send

log = logging.getLogger("socketapp")


class Counters:
    """Per-worker connection counters; one uWSGI worker is one process, so plain ints suffice."""

    def __init__(self) -> None:
        self.clients = 0
        self.connects = 0
        self.disconnects = 0
        self.reporter_started = False

    def summary(self) -> str:
        return f"pid={os.getpid()} clients={self.clients} connects={self.connects} disconnects={self.disconnects}"


counters = Counters()


def _report_forever(socketio: SocketIO, interval: int) -> None:
    """Log one summary line per interval when the counts changed: journald shows counts, not per-client noise."""
    last = ""
    while True:
        socketio.sleep(interval)
        line = counters.summary()
        if line != last:
            log.info("clients %s", line)
            last = line


def register(socketio: SocketIO) -> None:
    @socketio.on("connect")
    def on_connect(auth: Any = None) -> None:
        if not counters.reporter_started:
            counters.reporter_started = True
            interval = current_app.config["SETTINGS"].stats_interval
            socketio.start_background_task(_report_forever, socketio, interval)
        counters.clients += 1
        counters.connects += 1
        # Per-connection lines are DEBUG: at tens of thousands of clients INFO would flood journald.
        log.debug("connect sid=%s pid=%d", request.sid, os.getpid())

    @socketio.on("disconnect")
    def on_disconnect(reason: Any = None) -> None:
        counters.clients = max(0, counters.clients - 1)
        counters.disconnects += 1
        log.debug("disconnect sid=%s pid=%d reason=%s", request.sid, os.getpid(), reason)

    @socketio.on("message")
    def on_message(data: Any) -> None:
        # The sender is connected to this very worker: reply directly instead of through the message queue,
        # which would cost a Redis round trip and wake every worker for each echo.
        send(data, ignore_queue=True)

    @socketio.on("broadcast")
    def on_broadcast(data: Any) -> None:
        # Every client of every worker and host receives a broadcast: its size is limited, unlike an echo's.
        limit = current_app.config["SETTINGS"].max_broadcast_size
        size = len(data) if isinstance(data, str | bytes) else len(json.dumps(data))
        if size > limit:
            log.warning("closing client %s: broadcast of %d exceeds the maximum of %d", request.sid, size, limit)
            # The whole connection, not only the namespace: a client that ignores a namespace disconnect could go on.
            socketio.server.eio.disconnect(socketio.server.manager.eio_sid_from_sid(request.sid, request.namespace))
            return
        # With a message queue this reaches clients of every worker and host.
        emit("broadcast", data, broadcast=True)

    @socketio.on_error_default
    def on_error(exc: Exception) -> None:
        # Log and carry on: one bad event must never take the worker (and its other clients) down.
        log.error("error in event %r from sid=%s: %s", request.event, request.sid, exc, exc_info=exc)
