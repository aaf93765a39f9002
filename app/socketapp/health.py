"""The /healthz report: this worker's pid, its clients, its message-queue subscription, its collector's tuning and
which WebSocket transport serves it."""

from __future__ import annotations

import gc
import os
import socket
import sys
from typing import Any

from .events import Counters


def message_queue_state(manager: Any) -> str:
    """none (no queue), or this worker's subscription as its manager last saw it: connecting, subscribed, down.
    Cached state, not a round trip: a health check costs no Redis connection."""
    return getattr(manager, "subscription", "none")


def message_queue_primary(manager: Any) -> str | None:
    """host:port of the Redis this worker is subscribed on: the queue's one Redis, or under Sentinel the primary the
    Sentinels named at the last (re)subscription; None without a queue or while not subscribed. Cached, like the
    state."""
    return getattr(manager, "primary", None)


def websocket_transport() -> str:
    # The websocket_app role's transport module, imported by uWSGI before the app, says whether it took over.
    module = sys.modules.get("websocket_transport")
    return "bundle" if getattr(module, "INSTALLED", False) else "engineio"


def report(manager: Any, counters: Counters) -> dict[str, Any]:
    queue = message_queue_state(manager)
    return {
        # Healthy only while broadcasts from other workers and hosts reach this worker's clients.
        "status": "ok" if queue in ("none", "subscribed") else "degraded",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "clients": counters.clients,
        "message_queue": queue,
        "message_queue_primary": message_queue_primary(manager),
        # Objects kept out of collections and the generation thresholds: shows whether the role's tuning is live.
        "gc": {"frozen": gc.get_freeze_count(), "threshold": list(gc.get_threshold())},
        "transport": websocket_transport(),
    }
