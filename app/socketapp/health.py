"""The /healthz report: this worker's pid, its clients, whether the message queue answers, its collector's tuning and
which WebSocket transport serves it."""

from __future__ import annotations

import gc
import os
import socket
import sys
from typing import Any

from .events import Counters
from .settings import Settings


def message_queue_state(url: str) -> str:
    if not url:
        return "none"
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return "unknown"
    import redis  # imported lazily: single-worker setups without a queue never need it

    try:
        redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return "unreachable"
    return "ok"


def websocket_transport() -> str:
    # The websocket_app role's transport module, imported by uWSGI before the app, says whether it took over.
    module = sys.modules.get("websocket_transport")
    return "bundle" if getattr(module, "INSTALLED", False) else "engineio"


def report(settings: Settings, counters: Counters) -> dict[str, Any]:
    queue = message_queue_state(settings.message_queue)
    return {
        "status": "ok" if queue != "unreachable" else "degraded",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "clients": counters.clients,
        "message_queue": queue,
        # Objects kept out of collections and the generation thresholds: shows whether the role's tuning is live.
        "gc": {"frozen": gc.get_freeze_count(), "threshold": list(gc.get_threshold())},
        "transport": websocket_transport(),
    }
