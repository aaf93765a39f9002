"""Runtime settings read from the environment (rendered by Ansible into an EnvironmentFile)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "WEBSOCKET_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A setting has a value the app cannot use; the message names the variable."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(PREFIX + name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{PREFIX}{name}={raw!r}: expected one of true/false/1/0/yes/no/on/off")


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}={raw!r}: expected a positive integer") from None
    if value < 1:
        raise SettingsError(f"{PREFIX}{name}={raw!r}: expected a positive integer")
    return value


@dataclass(frozen=True)
class Settings:
    # Empty tuple means "same origin only" (python-engineio compares Origin with Host / X-Forwarded-*).
    cors_allowed_origins: tuple[str, ...] = ()
    message_queue: str = ""
    channel: str = "flask-socketio"
    socketio_logger: bool = False
    engineio_logger: bool = False
    ping_interval: int = 25
    ping_timeout: int = 20
    max_message_size: int = 1_000_000
    always_connect: bool = False
    async_handlers: bool = True
    async_mode: str = ""
    log_level: str = "INFO"
    stats_interval: int = 60
    # Abuse limits per client: events a second on average, in bursts up to client_event_burst; broadcast payloads.
    client_event_rate: int = 50
    client_event_burst: int = 200
    max_broadcast_size: int = 65536

    @property
    def cors_for_socketio(self) -> list[str] | str | None:
        """The value Flask-SocketIO expects: None = same origin, '*' = any, else the list."""
        if not self.cors_allowed_origins:
            return None
        if self.cors_allowed_origins == ("*",):
            return "*"
        return list(self.cors_allowed_origins)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        origins = tuple(o.strip() for o in env.get(PREFIX + "CORS_ALLOWED_ORIGINS", "").split(",") if o.strip())
        if "*" in origins and len(origins) > 1:
            raise SettingsError(f"{PREFIX}CORS_ALLOWED_ORIGINS: '*' cannot be combined with explicit origins")
        log_level = env.get(PREFIX + "LOG_LEVEL", "INFO").strip().upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise SettingsError(f"{PREFIX}LOG_LEVEL={log_level!r}: expected DEBUG, INFO, WARNING or ERROR")
        return cls(
            cors_allowed_origins=origins,
            message_queue=env.get(PREFIX + "MESSAGE_QUEUE", "").strip(),
            channel=env.get(PREFIX + "CHANNEL", "").strip() or cls.channel,
            socketio_logger=_bool(env, "SOCKETIO_LOGGER", False),
            engineio_logger=_bool(env, "ENGINEIO_LOGGER", False),
            ping_interval=_positive(env, "PING_INTERVAL", cls.ping_interval),
            ping_timeout=_positive(env, "PING_TIMEOUT", cls.ping_timeout),
            max_message_size=_positive(env, "MAX_MESSAGE_SIZE", cls.max_message_size),
            always_connect=_bool(env, "ALWAYS_CONNECT", False),
            async_handlers=_bool(env, "ASYNC_HANDLERS", True),
            async_mode=env.get(PREFIX + "ASYNC_MODE", "").strip(),
            log_level=log_level,
            stats_interval=_positive(env, "STATS_INTERVAL", cls.stats_interval),
            client_event_rate=_positive(env, "CLIENT_EVENT_RATE", cls.client_event_rate),
            client_event_burst=_positive(env, "CLIENT_EVENT_BURST", cls.client_event_burst),
            max_broadcast_size=_positive(env, "MAX_BROADCAST_SIZE", cls.max_broadcast_size),
        )
