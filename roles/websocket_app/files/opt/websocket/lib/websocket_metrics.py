"""Each worker's figures for Prometheus, for any app: written once a second to a file the exporter reads.

uWSGI imports this module in every worker when the role's metrics are on (`pyimport = websocket_metrics`, after the
transport). The transport counts sessions, messages and WebSockets as they happen (`websocket_transport.COUNTS`:
plain integers, no lock, no system call); this module adds the emits and their recipients (one wrapper call per
emit, not per recipient) and, from a hub timer, writes the worker's figures as one JSON object to
`$WEBSOCKET_METRICS_DIR/worker-<id>.json` (a write and a rename on tmpfs, once per interval). The exporter
(websocket_exporter.py) reads the files at each scrape, keeps those of the workers the uWSGI stats server lists as
alive (a file names its pid) and serves them with the stats server's figures. A respawned worker starts from zero:
Prometheus' rate() and increase() read that as a counter reset.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import weakref
from typing import Any

log = logging.getLogger("websocket_metrics")

INTERVAL = 1.0  # seconds between two writes of a worker's file
DIRECTORY = os.environ.get("WEBSOCKET_METRICS_DIR", "")
SERVERS: weakref.WeakSet[Any] = weakref.WeakSet()  # python-socketio servers of this worker (their managers)


def message_queue_state(server: Any) -> str | None:
    """None without a message queue; else "subscribed" or not, as the manager last saw it (no round trip).

    The bundled app's manager keeps a `subscription` state; any other pub/sub manager (python-socketio's Redis,
    Kafka, ... managers) is judged by its redis-py PubSub, when it has one."""
    manager = getattr(server, "manager", None)
    if manager is None or not hasattr(manager, "channel"):
        return None  # python-socketio's in-process manager: no queue
    state = getattr(manager, "subscription", None)
    if state is not None:
        return str(state)
    pubsub = getattr(manager, "pubsub", None)
    return "subscribed" if getattr(pubsub, "subscribed", False) else "down"


def snapshot(counts: Any, worker: int) -> dict[str, Any]:
    figures = {name: getattr(counts, name) for name in counts.__slots__}
    queues = [state for state in map(message_queue_state, list(SERVERS)) if state is not None]
    return {
        "worker": worker,
        "pid": os.getpid(),
        "time": time.time(),
        **figures,
        "message_queue": queues[0] if queues else None,
    }


def write(path: str, data: dict[str, Any]) -> None:
    # Written aside and renamed: the exporter never reads half a file.
    partial = f"{path}.{os.getpid()}"
    with open(partial, "w") as out:
        out.write(json.dumps(data))
    os.replace(partial, path)


def count_emits() -> None:
    """Count python-socketio's local emits (from this worker or arriving through the message queue) and whom they
    reached: the MESSAGE packets the transport sent during the emit, which never switches greenlets for a WebSocket
    recipient (a write to the socket or its buffer) nor for a polling one (a put on its queue)."""
    import socketio
    from websocket_transport import COUNTS

    emit = socketio.Manager.emit

    def counted_emit(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = COUNTS.sent
        try:
            return emit(self, *args, **kwargs)
        finally:
            reached = COUNTS.sent - before
            COUNTS.emits += 1
            COUNTS.emit_recipients += reached
            if reached > 1:
                COUNTS.broadcasts += 1

    socketio.Manager.emit = counted_emit
    server_init = socketio.Server.__init__

    def registered_init(self: Any, *args: Any, **kwargs: Any) -> None:
        server_init(self, *args, **kwargs)
        SERVERS.add(self)

    socketio.Server.__init__ = registered_init


def install() -> bool:
    """Start writing this worker's figures; False (and why, once) when there is nothing to count or nowhere to write."""
    try:
        import uwsgi
    except ImportError:
        return False  # not inside uWSGI (unit tests, a development server)
    transport = __import__("sys").modules.get("websocket_transport")
    if transport is None or not getattr(transport, "INSTALLED", False):
        log.warning("worker metrics off: they are counted by the bundle's WebSocket transport, which is not installed")
        return False
    if not DIRECTORY:
        log.warning("worker metrics off: WEBSOCKET_METRICS_DIR is not set")
        return False
    try:
        os.makedirs(DIRECTORY, 0o750, exist_ok=True)
    except OSError as error:
        log.warning("worker metrics off: cannot create %s: %s", DIRECTORY, error)
        return False
    with contextlib.suppress(ImportError):  # an Engine.IO app without python-socketio emits nothing
        count_emits()
    import gevent

    worker = uwsgi.worker_id()
    path = os.path.join(DIRECTORY, f"worker-{worker}.json")
    counts = transport.COUNTS
    failed = False

    def tick() -> None:
        # In the hub: a small write on tmpfs never blocks; an error is logged once, not every second.
        nonlocal failed
        try:
            write(path, snapshot(counts, worker))
            failed = False
        except Exception:
            if not failed:
                log.exception("cannot write this worker's metrics to %s", path)
            failed = True

    timer = gevent.get_hub().loop.timer(0.0, INTERVAL)
    timer.start(tick)
    return True


INSTALLED = install()
