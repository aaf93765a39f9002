"""Engine.IO session ids that name their worker, so the load balancer routes every request of a session to it.

uWSGI imports this module in every worker before the app (`pyimport = websocket_sid`), for any app and either
transport. `WEBSOCKET_SID_PREFIXES` lists one prefix per worker, in worker order (the role derives each from the
worker's socket address, as nginx knows it); worker N prefixes every session id it generates with the Nth and a dot.
nginx maps the prefix of a request's `sid` to that worker's socket, and sends requests without a `sid` (new
sessions) to the least busy worker.

Checked against python-engineio 4.15.1: `BaseServer.generate_id` makes every Engine.IO session id (and, through
python-socketio's manager, every Socket.IO namespace sid); ids are URL-safe base64, so the dot cannot occur in them.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("websocket_sid")

SEPARATOR = "."


def worker_prefix(prefixes: str, worker: int) -> str | None:
    """This worker's prefix from the comma-separated list, or None when the list has none for it."""
    names = [name for name in prefixes.split(",") if name]
    return names[worker - 1] + SEPARATOR if 1 <= worker <= len(names) else None


def install() -> str | None:
    """Prefix python-engineio's session ids in this worker; the prefix in use, or None (and why, logged)."""
    prefixes = os.environ.get("WEBSOCKET_SID_PREFIXES", "")
    try:
        import uwsgi
    except ImportError:
        return None  # not inside uWSGI (unit tests, a development server)
    if not prefixes:
        return None
    prefix = worker_prefix(prefixes, uwsgi.worker_id())
    if prefix is None:
        # nginx answers 400 to every request of this worker's sessions: say so loudly.
        log.error("no session id prefix for worker %d in %r: routing by session fails", uwsgi.worker_id(), prefixes)
        return None
    try:
        from engineio import base_server
    except ImportError:
        return None  # not a python-engineio app
    generate_id = base_server.BaseServer.generate_id

    def prefixed_id(self: base_server.BaseServer) -> str:
        return prefix + generate_id(self)

    base_server.BaseServer.generate_id = prefixed_id
    return prefix


PREFIX = install()
