"""Unit tests with Flask-SocketIO's test client (no network; the deployed service is tested by Molecule)."""

from __future__ import annotations

import threading
import time

import pytest

from socketapp import create_app, health, rooms, socketio
from socketapp.events import Counters
from socketapp.settings import Settings, SettingsError


@pytest.fixture
def app():
    return create_app(Settings())


def test_message_is_echoed_to_the_sender_only(app):
    sender = socketio.test_client(app)
    other = socketio.test_client(app)
    sender.send("hello")
    assert sender.get_received() == [{"name": "message", "args": "hello", "namespace": "/"}]
    assert other.get_received() == []


def test_structured_message_is_echoed_unchanged(app):
    client = socketio.test_client(app)
    client.emit("message", {"n": 1, "text": "hi"})
    assert client.get_received()[0]["args"] == {"n": 1, "text": "hi"}


def test_broadcast_reaches_every_connected_client(app):
    first = socketio.test_client(app)
    second = socketio.test_client(app)
    first.emit("broadcast", {"from": "first"})
    for client in (first, second):
        received = client.get_received()
        assert [(r["name"], r["args"]) for r in received] == [("broadcast", [{"from": "first"}])]


def test_a_failing_handler_is_logged_and_the_client_keeps_working(app, caplog):
    @socketio.on("explode")
    def explode(_data):
        raise RuntimeError("boom")

    client = socketio.test_client(app)
    client.emit("explode", 1)
    assert "boom" in caplog.text
    client.send("still here")
    assert client.get_received()[-1]["args"] == "still here"


def test_root_answers_plainly(app):
    response = app.test_client().get("/")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "Connected"


def test_healthz_reports_pid_clients_and_queue(app):
    import gc
    import os
    import socket

    socketio.test_client(app)
    threshold = gc.get_threshold()
    gc.set_threshold(1234, 5, 6)  # a value nothing else sets: the report must read the live one
    try:
        body = app.test_client().get("/healthz").get_json()
    finally:
        gc.set_threshold(*threshold)
    assert body["status"] == "ok"
    assert body["pid"] == os.getpid()
    assert body["host"] == socket.gethostname()
    assert body["clients"] >= 1
    assert body["message_queue"] == "none"
    assert body["gc"]["threshold"] == [1234, 5, 6]
    assert body["transport"] == "engineio"  # outside uWSGI the role's transport is not there


def test_health_says_degraded_while_the_worker_is_not_subscribed():
    # Port 1 on loopback refuses at once: a real connection attempt, no mock.
    manager = rooms.client_manager("redis://127.0.0.1:1/0", "test")
    assert health.report(manager, Counters())["message_queue"] == "connecting"
    threading.Thread(target=next, args=(manager._redis_listen_with_retries(),), daemon=True).start()
    deadline = time.monotonic() + 10
    while manager.subscription == "connecting" and time.monotonic() < deadline:
        time.sleep(0.05)
    body = health.report(manager, Counters())
    assert (body["status"], body["message_queue"]) == ("degraded", "down")


def handshake_status(app, origin: str) -> int:
    """The status of a polling handshake sent with this Origin."""
    return app.test_client().get("/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}).status_code


def test_default_origins_are_same_origin_only(app):
    assert Settings().cors_for_socketio is None
    assert handshake_status(app, "http://localhost") == 200
    assert handshake_status(app, "http://evil.example") == 400


def test_configured_origins_replace_same_origin():
    app = create_app(Settings(cors_allowed_origins=("https://chat.example",)))
    assert handshake_status(app, "https://chat.example") == 200
    assert handshake_status(app, "http://localhost") == 400


def test_settings_come_from_the_environment():
    settings = Settings.from_env(
        {
            "WEBSOCKET_CORS_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "WEBSOCKET_MESSAGE_QUEUE": "redis://:pw@redis:6379/0",
            "WEBSOCKET_PING_INTERVAL": "10",
            "WEBSOCKET_PING_TIMEOUT": "5",
            "WEBSOCKET_MAX_MESSAGE_SIZE": "65536",
            "WEBSOCKET_ENGINEIO_LOGGER": "true",
            "WEBSOCKET_ALWAYS_CONNECT": "true",
            "WEBSOCKET_ASYNC_HANDLERS": "false",
        }
    )
    assert settings.cors_for_socketio == ["https://a.example", "https://b.example"]
    assert settings.message_queue == "redis://:pw@redis:6379/0"
    assert (settings.ping_interval, settings.ping_timeout, settings.max_message_size) == (10, 5, 65536)
    assert settings.engineio_logger is True
    assert settings.socketio_logger is False
    assert settings.always_connect is True
    assert Settings.from_env({}).always_connect is False
    assert settings.async_handlers is False
    assert Settings.from_env({}).async_handlers is True  # Flask-SocketIO's default when nothing says otherwise


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("WEBSOCKET_PING_INTERVAL", "soon", "positive integer"),
        ("WEBSOCKET_MAX_MESSAGE_SIZE", "0", "positive integer"),
        ("WEBSOCKET_ENGINEIO_LOGGER", "maybe", "true/false"),
        ("WEBSOCKET_CORS_ALLOWED_ORIGINS", "*,https://a.example", "cannot be combined"),
        ("WEBSOCKET_LOG_LEVEL", "loud", "DEBUG, INFO"),
    ],
)
def test_bad_settings_name_the_variable(name, value, fragment):
    with pytest.raises(SettingsError, match=fragment) as excinfo:
        Settings.from_env({name: value})
    assert name in str(excinfo.value)
