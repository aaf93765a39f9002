"""Bad input over a real WebSocket (Werkzeug dev server, threading mode): the sender is closed, others carry on."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator

import pytest
import socketio as sio_client
import websocket
from werkzeug.serving import WSGIRequestHandler, make_server

from socketapp import create_app, logs
from socketapp.settings import Settings

LIMIT = 2000  # a small WEBSOCKET_MAX_MESSAGE_SIZE keeps the oversized frame cheap
RATE, BURST, BROADCAST = 5, 10, 100  # per-client limits small enough for a test to exceed


class QuietHandler(WSGIRequestHandler):
    def log(self, *_args: object) -> None:
        pass  # the dev server reads a closed WebSocket's last frame as a bad HTTP request and says so


@pytest.fixture
def base_url() -> Iterator[str]:
    app = create_app(
        Settings(max_message_size=LIMIT, client_event_rate=RATE, client_event_burst=BURST, max_broadcast_size=BROADCAST)
    )
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def healthy(base_url: str) -> Iterator[sio_client.SimpleClient]:
    client = sio_client.SimpleClient()
    client.connect(f"http://{base_url}", transports=["websocket"], wait_timeout=5)
    yield client
    client.disconnect()


def echoes(client: sio_client.SimpleClient) -> bool:
    token = str(uuid.uuid4())
    client.emit("message", token)
    return client.receive(timeout=5) == ["message", token]


def raw(base_url: str, *frames: str | bytes) -> list[str | bytes]:
    """Sends frames after the Engine.IO handshake; returns what came back until the server closed (or went quiet)."""
    ws = websocket.create_connection(f"ws://{base_url}/socket.io/?EIO=4&transport=websocket", timeout=3)
    replies: list[str | bytes] = []
    try:
        assert ws.recv().startswith("0{")
        for frame in frames:
            ws.send_binary(frame) if isinstance(frame, bytes) else ws.send(frame)
        while True:
            opcode, data = ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                replies.append("<closed>")
                return replies
            replies.append(data.decode() if opcode == websocket.ABNF.OPCODE_TEXT else data)
    except (websocket.WebSocketConnectionClosedException, BrokenPipeError, ConnectionResetError):
        replies.append("<closed>")  # a flood can be cut off while the test is still sending
    except websocket.WebSocketTimeoutException:
        replies.append("<open>")
    finally:
        ws.close()
    return replies


@pytest.mark.parametrize(
    ("frames", "reply", "logged"),
    [
        (["xhello"], "<closed>", "not an Engine.IO packet: 'xhello'"),
        (["9hello"], "<closed>", "not an Engine.IO packet: '9hello'"),
        (["40", '42["message",'], "1", "bad Socket.IO packet: Expecting value"),
        (['42["message","x"]'], "1", "event for namespace '/', which the client has not joined"),
        (["40", '42/chat,["message","x"]'], "1", "event for namespace '/chat', which the client has not joined"),
        (["40", b"\x01garbage"], "1", "bad Socket.IO packet"),
        (["40", "4" + "x" * LIMIT], "<closed>", f"message of {LIMIT + 1} characters exceeds the maximum of {LIMIT}"),
    ],
    ids=[
        "engineio-type-letter",
        "engineio-type-9",
        "invalid-json",
        "event-before-connect",
        "event-in-other-namespace",
        "binary-garbage",
        "oversized",
    ],
)
def test_bad_input_closes_the_sender_only(base_url, healthy, caplog, frames, reply, logged):
    caplog.set_level(logging.WARNING, logger="socketapp")
    replies = raw(base_url, *frames)
    assert reply in replies, replies  # "1" is Engine.IO's close packet
    assert any(logged in record.getMessage() for record in caplog.records), caplog.text
    assert "Traceback" not in caplog.text
    assert echoes(healthy)


def test_a_flood_closes_the_sender_with_one_line(base_url, healthy, caplog):
    caplog.set_level(logging.WARNING, logger="socketapp")
    replies = raw(base_url, "40", *['42["message","flood"]'] * (BURST * 5))
    assert replies[-1] in ("1", "<closed>"), replies[-3:]
    assert replies.count('42["message","flood"]') <= BURST + 1  # the burst was served, the rest was not
    flooding = [r for r in caplog.records if f"more than {RATE} events a second" in r.getMessage()]
    assert len(flooding) == 1, caplog.text
    assert echoes(healthy)


def test_a_broadcast_over_the_size_limit_closes_its_sender_and_reaches_nobody(base_url, healthy, caplog):
    caplog.set_level(logging.WARNING, logger="socketapp")
    big = "z" * (BROADCAST + 1)
    replies = raw(base_url, "40", f'42["broadcast","{big}"]')
    assert "1" in replies or replies[-1] == "<closed>", replies
    assert any(
        f"broadcast of {BROADCAST + 1} exceeds the maximum of {BROADCAST}" in r.getMessage() for r in caplog.records
    )
    raw(base_url, "40", '42["broadcast","small"]')
    assert healthy.receive(timeout=5) == ["broadcast", "small"]  # the big one never arrived before it


def test_a_message_within_the_limit_is_echoed(healthy):
    data = "y" * (LIMIT - 100)
    healthy.emit("message", data)
    assert healthy.receive(timeout=5) == ["message", data]


def test_redis_retries_are_warnings_with_their_cause(caplog):
    logger = logs.library_logger("socketio.server", verbose=False, level="INFO")
    with caplog.at_level(logging.WARNING, logger="socketio.server"):
        logger.error("Cannot receive from redis... retrying in 2 secs", extra={"redis_exception": "refused"})
        logger.error("Cannot publish to redis... giving up", extra={"redis_exception": "refused"})
        logger.info("packet chatter")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "Cannot receive from redis... retrying in 2 secs (refused)"),
        ("ERROR", "Cannot publish to redis... giving up (refused)"),
    ]


def test_library_loggers_have_no_handler_of_their_own():
    # Given True/False instead of a logger, python-socketio adds a handler: every line appeared twice in journald.
    app = create_app(Settings())
    server = app.extensions["socketio"].server
    assert server.logger is logging.getLogger("socketio.server")
    assert server.eio.logger is logging.getLogger("engineio.server")
    assert server.logger.handlers == []
    assert server.eio.logger.handlers == []
