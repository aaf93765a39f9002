"""Logging of python-socketio and python-engineio: one line per record in the app's format, causes included."""

from __future__ import annotations

import logging

# python-socketio's Redis manager retries by itself, and the queue manager follows the primary when it moves (see
# rooms.py): these are warnings, not errors. Logged as errors so that they pass the loggers' ERROR level.
RETRYING = (
    "Cannot receive from redis... retrying",
    "Cannot publish to redis... retrying",
    "Cannot watch Sentinel",
    "Redis primary switched",
)


class QueueErrors(logging.Filter):
    """python-socketio reports every Redis retry as an ERROR and keeps the cause in `extra`, which no formatter
    shows. Retries become warnings; both say why."""

    def filter(self, record: logging.LogRecord) -> bool:
        cause = getattr(record, "redis_exception", None)
        if cause and not record.args and not getattr(record, "cause_shown", False):
            record.msg = f"{record.msg} ({cause})"
            record.cause_shown = True  # a record passes the filter again if another logger shares it
        if record.levelno == logging.ERROR and str(record.msg).startswith(RETRYING):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def library_logger(name: str, verbose: bool, level: str) -> logging.Logger:
    """A logger to hand to python-socketio / python-engineio. Given True/False they add a handler of their own
    to a logger that also reaches the root handler: every line would be logged twice, once without format."""
    logger = logging.getLogger(name)
    # Quiet unless asked: at INFO they log every packet; at WARNING every stray packet of a misbehaving client.
    logger.setLevel(logging.INFO if verbose else max(logging.ERROR, logging.getLevelName(level)))
    if not any(isinstance(existing, QueueErrors) for existing in logger.filters):
        logger.addFilter(QueueErrors())
    return logger
