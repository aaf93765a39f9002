"""JSON logs for any app: imported by every uWSGI worker before the app when websocket_app_log_format is json.

Every record of Python's logging becomes one JSON object on one line: time, level, logger, pid, worker (uWSGI's
worker id), event (the message) and exc (the traceback, when there is one). The layer configures the root logger
before the app loads, so an app's own logging.basicConfig() adds nothing; the level is the app role's
(WEBSOCKET_LOG_LEVEL in the service's environment file).

Under systemd the records go straight to the journal's stream socket, as the service's stdout does, with the
service's identifier and each record's level as the journal priority (`journalctl -p warning` works). They do not
pass through uWSGI's log pipe: there uWSGI's JSON encoder, which turns uWSGI's own text lines into JSON objects,
would wrap them a second time. Elsewhere (no journal) they go to stderr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

JOURNAL_SOCKET = "/run/systemd/journal/stdout"
# syslog priorities for Python's levels (the journal's PRIORITY field).
PRIORITIES = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def worker_id() -> int | None:
    """uWSGI's worker id (1..processes), None outside uWSGI."""
    try:
        import uwsgi  # only inside uWSGI
    except ImportError:
        return None
    return uwsgi.worker_id()


def timestamp(created: float) -> str:
    """Local time, ISO 8601 with milliseconds and the UTC offset (uWSGI's own lines use the same form)."""
    local = time.localtime(created)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', local)}.{int(created % 1 * 1000):03d}{time.strftime('%z', local)}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (json.dumps escapes the newlines of messages and tracebacks)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "worker": worker_id(),
            "event": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)


def journal_stream(identifier: str, path: str = JOURNAL_SOCKET) -> TextIO:
    """A line-buffered stream into the journal, as systemd connects a service's stdout (sd-journal's stream
    protocol: a header, then one entry per line; level_prefix on, so a leading <N> is the entry's priority)."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(path)
        client.shutdown(socket.SHUT_RD)
        # identifier, unit id (unused), default priority, level prefix, forward to syslog, kmsg, console
        client.sendall(f"{identifier}\n\n6\n1\n0\n0\n0\n".encode())
    except OSError:
        client.close()
        raise
    stream = client.makefile("w", buffering=1, encoding="utf-8", errors="replace")
    client.close()  # the stream owns the connection now: closing it closes the socket
    return stream


class JournalHandler(logging.StreamHandler):
    """Writes each record as `<priority>line`; reconnects once when the journal went away (journald restarted)."""

    def __init__(self, identifier: str, path: str = JOURNAL_SOCKET) -> None:
        self.identifier, self.path = identifier, path
        super().__init__(journal_stream(identifier, path))

    def format(self, record: logging.LogRecord) -> str:
        return f"<{PRIORITIES.get(record.levelno, 6)}>{super().format(record)}"

    def close_stream(self) -> None:
        with contextlib.suppress(OSError):  # the journal went away already
            self.stream.close()

    def close(self) -> None:
        self.close_stream()
        super().close()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            self.stream.flush()
        except OSError:
            try:
                self.close_stream()
                self.stream = journal_stream(self.identifier, self.path)
                self.stream.write(self.format(record) + self.terminator)
                self.stream.flush()
            except OSError:
                self.handleError(record)


def handler(env: Mapping[str, str], path: str = JOURNAL_SOCKET) -> logging.Handler:
    """The journal when systemd connected the service to it (it sets JOURNAL_STREAM then), else stderr."""
    if env.get("JOURNAL_STREAM"):
        try:
            return JournalHandler(env.get("WEBSOCKET_LOG_IDENTIFIER") or "websocket", path)
        except OSError:
            pass  # no journal socket here after all: stderr still reaches whoever reads the service's output
    return logging.StreamHandler(sys.stderr)


def install(env: Mapping[str, str] = os.environ, path: str = JOURNAL_SOCKET) -> logging.Handler:
    """Make the root logger write JSON lines, at the role's level; returns the handler."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    chosen = handler(env, path)
    chosen.setFormatter(JsonFormatter())
    root.addHandler(chosen)
    level = env.get("WEBSOCKET_LOG_LEVEL", "INFO").strip().upper()
    root.setLevel(level if level in {"DEBUG", "INFO", "WARNING", "ERROR"} else "INFO")
    # Python's warnings module (deprecations of the app's libraries) logs through `py.warnings` then.
    logging.captureWarnings(True)
    return chosen


# Under uWSGI (pyimport in every worker) it configures logging on import; elsewhere (tests) install() does.
if "uwsgi" in sys.modules:
    install()
