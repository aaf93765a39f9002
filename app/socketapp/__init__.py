"""Flask-SocketIO example service: echo and broadcast over WebSocket, deployed by the websocket_app role."""

from __future__ import annotations

import logging
import os
import sys

from flask import Flask, jsonify
from flask_socketio import SocketIO

from . import events, guard, health, logs, rooms
from .settings import Settings

socketio = SocketIO()
events.register(socketio)


def default_async_mode() -> str:
    # Under uWSGI the embedded `uwsgi` module exists; gevent_uwsgi is the only mode that uses uWSGI's own
    # WebSocket support. Anywhere else (tests, `python -m socketapp`) threading needs nothing extra.
    return "gevent_uwsgi" if "uwsgi" in sys.modules else "threading"


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    app = Flask(__name__)
    app.config["SETTINGS"] = settings

    @app.get("/")
    def index() -> str:
        return "Connected"

    @app.get("/healthz")
    def healthz():
        body = health.report(socketio.server.manager, events.counters)
        return jsonify(body), 200 if body["status"] == "ok" else 503

    socketio.init_app(
        app,
        async_mode=settings.async_mode or default_async_mode(),
        cors_allowed_origins=settings.cors_for_socketio,
        # Flask-SocketIO's own choice for the queue URL, with a per-client room index (see rooms.py).
        client_manager=rooms.client_manager(settings.message_queue, settings.channel),
        logger=logs.library_logger("socketio.server", settings.socketio_logger, settings.log_level),
        engineio_logger=logs.library_logger("engineio.server", settings.engineio_logger, settings.log_level),
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        max_http_buffer_size=settings.max_message_size,
        always_connect=settings.always_connect,
        async_handlers=settings.async_handlers,
    )
    guard.install(socketio.server, settings.client_event_rate, settings.client_event_burst)
    logging.getLogger("socketapp").info(
        "worker pid=%d ready: async_mode=%s message_queue=%s",
        os.getpid(),
        socketio.async_mode,
        "on" if settings.message_queue else "off",
    )
    return app
