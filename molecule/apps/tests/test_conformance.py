"""Engine.IO v4 and Socket.IO v5 conformance of the deployed service, written from the protocol specifications.

The app is the one the Socket.IO protocol's test suite asks for (fixtures/spec: pingInterval 300 ms, pingTimeout
200 ms, maxPayload 1,000,000, an `auth` echo on connect, a `/custom` namespace, acks), deployed through the
bundle's playbook like any app and reached through nginx. Raw WebSocket frames and polling requests, no Socket.IO
client library: every server-side close must arrive as a WebSocket close frame followed by the end of the TCP
connection, within the test's wait (a bound on waiting, not a speed figure).

This module runs last in the scenario (file order) and leaves the spec app live. `SPEC_URL=http://host:port` runs it
against a service where the spec app is already deployed, without deploying (how the transports were compared).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from appslib import FIXTURES

from containers import playbook
from testlib import WAIT, http_request

# The spec app's settings (fixtures/spec/spec/server.py) and the connect timeout the deploy below gives it.
PING_INTERVAL_MS = 300
PING_TIMEOUT_MS = 200
MAX_PAYLOAD = 1_000_000
CONNECT_TIMEOUT = 2
PATH = "/socket.io/?EIO=4"
PLACEHOLDERS = '{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}'


@pytest.fixture(scope="module")
def base(url: str) -> str:
    if os.environ.get("SPEC_URL"):
        return os.environ["SPEC_URL"]
    run = playbook(
        "playbooks/websocket.yml",
        "-e",
        f"websocket_app_source_dir={FIXTURES / 'spec'}",
        "-e",
        "websocket_app_module=spec.server:application",
        "-e",
        f"websocket_app_connect_timeout={CONNECT_TIMEOUT}",
    )
    assert run.rc == 0, run.output[-3000:]
    return url


CLOSE_FRAME = "<close frame>"
TCP_END = "<end of the TCP connection>"


class Raw:
    """One raw Engine.IO WebSocket, read by a thread: messages in order, server PINGs answered at once (the spec
    app's ping timeout is 200 ms) unless `pong` is off, then the close frame and the end of the connection."""

    def __init__(self, base: str, query: str = "&transport=websocket", pong: bool = True) -> None:
        self.ws = websocket.create_connection(base.replace("http", "ws", 1) + PATH + query, timeout=WAIT)
        self.pong = pong
        self.inbox: queue.Queue[Any] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                opcode, frame = self.ws.recv_data_frame(True)  # answers the server's close and pings itself
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.inbox.put(CLOSE_FRAME)
                    break
                if opcode == websocket.ABNF.OPCODE_BINARY:
                    self.inbox.put(frame.data)
                elif opcode == websocket.ABNF.OPCODE_TEXT:
                    text = frame.data.decode()
                    if text == "2" and self.pong:
                        self.send("3")
                    else:
                        self.inbox.put(text)
            self.ws.sock.settimeout(WAIT)
            # A reset is an end too (nginx resets a connection that still holds our close reply unread).
            with contextlib.suppress(ConnectionResetError):
                if self.ws.sock.recv(1) != b"":
                    self.inbox.put("<data after the close frame>")
                    return
            self.inbox.put(TCP_END)
        except websocket.WebSocketConnectionClosedException:
            self.inbox.put(TCP_END)
        except Exception as error:  # a timeout or a broken frame: the test reading the inbox reports it
            self.inbox.put(error)

    def send(self, message: str | bytes) -> None:
        binary = isinstance(message, bytes)
        self.ws.send(message, websocket.ABNF.OPCODE_BINARY if binary else websocket.ABNF.OPCODE_TEXT)

    def next(self) -> str | bytes:
        """The next message (not an answered PING)."""
        item = self.inbox.get(timeout=WAIT)
        assert item not in (CLOSE_FRAME, TCP_END), f"the server closed the connection: {item}"
        assert not isinstance(item, Exception), repr(item)
        return item

    def closed_by_server(self) -> None:
        """The server's close frame arrives (after any messages), then the server ends the TCP connection."""
        while (item := self.inbox.get(timeout=WAIT)) != CLOSE_FRAME:
            assert item != TCP_END, "the server ended the TCP connection without a WebSocket close frame"
            assert not isinstance(item, Exception), repr(item)
        assert self.inbox.get(timeout=WAIT) == TCP_END

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close(timeout=1)


@pytest.fixture
def raw(base: str) -> Iterator[Any]:
    opened: list[Raw] = []

    def open_(query: str = "&transport=websocket", pong: bool = True) -> Raw:
        opened.append(Raw(base, query, pong))
        return opened[-1]

    yield open_
    for connection in opened:
        connection.close()


def handshake(text: str | bytes) -> dict[str, Any]:
    assert isinstance(text, str)
    assert text.startswith("0"), text
    return json.loads(text[1:])


def polling_session(base: str) -> str:
    response = http_request(f"{base}{PATH}&transport=polling")
    assert response.status == 200
    return handshake(response.body)["sid"]


def poll(base: str, sid: str) -> Any:
    return http_request(f"{base}{PATH}&transport=polling&sid={sid}")


def post(base: str, sid: str, body: str) -> Any:
    return http_request(f"{base}{PATH}&transport=polling&sid={sid}", method="POST", data=body.encode())


def socketio_connection(raw: Any) -> Raw:
    connection = raw()
    handshake(connection.next())
    connection.send("40")
    assert connection.next().startswith("40{")
    assert connection.next() == '42["auth",{}]'
    return connection


# Engine.IO: handshake


def test_polling_handshake_opens_a_session(base):
    response = http_request(f"{base}{PATH}&transport=polling")
    assert response.status == 200
    value = handshake(response.body)
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert value["upgrades"] == ["websocket"]
    assert (value["pingInterval"], value["pingTimeout"], value["maxPayload"]) == (300, 200, MAX_PAYLOAD)


@pytest.mark.parametrize("query", ["/socket.io/?transport=polling", "/socket.io/?EIO=abc&transport=polling"])
def test_polling_handshake_with_an_invalid_eio_is_refused(base, query):
    assert http_request(base + query).status == 400


@pytest.mark.parametrize("query", ["", "&transport=abc"])
def test_polling_handshake_with_an_invalid_transport_is_refused(base, query):
    assert http_request(f"{base}{PATH}{query}").status == 400


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_polling_handshake_with_an_invalid_method_is_refused(base, method):
    assert http_request(f"{base}{PATH}&transport=polling", method=method, data=b"").status == 400


def test_websocket_handshake_opens_a_session(raw):
    value = handshake(raw().next())
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert value["upgrades"] == []
    assert (value["pingInterval"], value["pingTimeout"], value["maxPayload"]) == (300, 200, MAX_PAYLOAD)


@pytest.mark.parametrize("query", ["", "&transport=abc"])
def test_websocket_with_an_invalid_transport_is_refused(base, query):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        Raw(base, query)
    assert refused.value.status_code == 400


# Engine.IO: heartbeat and close


def test_websocket_gets_pings_and_stays_open_while_it_answers(raw):
    connection = raw(pong=False)
    handshake(connection.next())
    for _ in range(3):
        assert connection.next() == "2"
        connection.send("3")
    connection.send("40")
    assert connection.next().startswith("40{")


def test_websocket_is_closed_upon_ping_timeout(raw):
    connection = raw(pong=False)
    handshake(connection.next())
    connection.closed_by_server()


def test_polling_session_is_closed_upon_ping_timeout(base):
    sid = polling_session(base)
    time.sleep((PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 + 0.5)
    assert poll(base, sid).status == 400


def test_websocket_is_closed_upon_a_close_packet(raw):
    connection = raw()
    handshake(connection.next())
    connection.send("1")
    connection.closed_by_server()


def test_polling_session_is_closed_upon_a_close_packet(base):
    # The spec app pings every 300 ms: on a loaded machine the first ping can end the pending poll before the close
    # arrives. That is a correct answer too, but not the one under test: try again on a new session.
    answers = []
    for _ in range(10):
        sid = polling_session(base)
        pending: list[Any] = []
        poller = threading.Thread(target=lambda: pending.append(poll(base, sid)))  # noqa: B023 (joined below)
        poller.start()
        time.sleep(0.1)
        assert post(base, sid, "1").status == 200
        poller.join(WAIT)
        assert pending
        assert pending[0].status == 200
        answers.append(pending[0].body)
        assert poll(base, sid).status == 400  # closed, whichever came first
        if pending[0].body != "2":
            break
    assert answers[-1] == "6", answers  # the pending poll ends with a NOOP


def test_websocket_is_closed_upon_an_invalid_engineio_packet(raw):
    connection = raw()
    handshake(connection.next())
    connection.send("abc")
    connection.closed_by_server()


def test_polling_session_is_closed_upon_an_invalid_packet(base):
    sid = polling_session(base)
    assert post(base, sid, "abc").status == 400
    assert poll(base, sid).status == 400


# Engine.IO: upgrade


def upgraded(base: str, raw: Any) -> tuple[str, Raw]:
    sid = polling_session(base)
    connection = raw(f"&transport=websocket&sid={sid}")
    connection.send("2probe")
    assert connection.next() == "3probe"
    response = poll(base, sid)
    assert (response.status, response.body) == (200, "6")  # a NOOP ends the polling request
    connection.send("5")
    return sid, connection


def test_upgrade_from_polling_to_websocket(base, raw):
    _, connection = upgraded(base, raw)
    connection.send("40")
    assert connection.next().startswith("40{")
    assert connection.next() == '42["auth",{}]'


def test_upgrade_with_pipelined_probe_and_upgrade_packets(base, raw):
    sid = polling_session(base)
    connection = raw(f"&transport=websocket&sid={sid}")
    connection.send("2probe")
    connection.send("5")
    assert connection.next() == "3probe"
    connection.send("40")
    assert connection.next().startswith("40{")


def test_http_requests_with_the_sid_of_an_upgraded_session_are_refused(base, raw):
    sid, connection = upgraded(base, raw)
    assert poll(base, sid).status == 400
    connection.send("40")
    assert connection.next().startswith("40{")  # the upgraded session is unharmed


def test_a_second_websocket_with_the_sid_of_an_upgraded_session_is_refused(base, raw):
    sid, connection = upgraded(base, raw)
    # The server handles a connection's packets in order: the CONNECT answered means it has taken the upgrade too.
    connection.send("40")
    assert connection.next().startswith("40{")
    assert connection.next() == '42["auth",{}]'
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        Raw(base, f"&transport=websocket&sid={sid}")
    assert refused.value.status_code == 400
    connection.send('42["message","still here"]')
    assert connection.next() == '42["message-back","still here"]'  # the upgraded session is unharmed


# Socket.IO: connect and disconnect


@pytest.mark.parametrize(("payload", "auth"), [("", "{}"), ('{"token":"123"}', '{"token":"123"}')])
def test_connect_to_the_main_namespace(raw, payload, auth):
    connection = raw()
    handshake(connection.next())
    connection.send("40" + payload)
    reply = connection.next()
    assert reply.startswith("40")
    assert set(json.loads(reply[2:])) == {"sid"}
    assert connection.next() == f'42["auth",{auth}]'


@pytest.mark.parametrize(("payload", "auth"), [("", "{}"), ('{"token":"abc"}', '{"token":"abc"}')])
def test_connect_to_a_custom_namespace(raw, payload, auth):
    connection = raw()
    handshake(connection.next())
    connection.send("40/custom," + payload)
    reply = connection.next()
    assert reply.startswith("40/custom,")
    assert set(json.loads(reply[len("40/custom,") :])) == {"sid"}
    assert connection.next() == f'42/custom,["auth",{auth}]'


def test_connect_to_an_unknown_namespace_is_refused(raw):
    connection = raw()
    handshake(connection.next())
    connection.send("40/random")
    assert connection.next() == '44/random,{"message":"Invalid namespace"}'


def test_connect_with_an_invalid_packet_is_closed(raw):
    connection = raw()
    handshake(connection.next())
    connection.send("4abc")
    connection.closed_by_server()


def test_session_without_a_connect_is_closed_after_the_connect_timeout(raw):
    connection = raw()
    handshake(connection.next())
    connection.closed_by_server()  # the spec app's connect timeout (2 s) is shorter than the wait


def test_disconnect_from_the_main_namespace_closes_the_connection(raw):
    connection = socketio_connection(raw)
    connection.send("41")
    connection.closed_by_server()


def test_disconnect_from_a_custom_namespace_keeps_the_main_one(raw):
    connection = socketio_connection(raw)
    connection.send("40/custom")
    assert connection.next().startswith("40/custom,")
    assert connection.next() == '42/custom,["auth",{}]'
    connection.send("41/custom")
    connection.send('42["message","message to main namespace"]')
    assert connection.next() == '42["message-back","message to main namespace"]'


# Socket.IO: messages


@pytest.mark.parametrize(
    ("sent", "reply"),
    [
        ('42["message",1,"2",{"3":[true]}]', '42["message-back",1,"2",{"3":[true]}]'),
        ('42456["message-with-ack",1,"2",{"3":[false]}]', '43456[1,"2",{"3":[false]}]'),
    ],
    ids=["event", "event-with-ack"],
)
def test_plain_text_event(raw, sent, reply):
    connection = socketio_connection(raw)
    connection.send(sent)
    assert connection.next() == reply


@pytest.mark.parametrize(
    ("sent", "reply"),
    [('452-["message",', '452-["message-back",'), ('452-789["message-with-ack",', "462-789[")],
    ids=["event", "event-with-ack"],
)
def test_event_with_binary_attachments(raw, sent, reply):
    connection = socketio_connection(raw)
    connection.send(f"{sent}{PLACEHOLDERS}]")
    connection.send(bytes([1, 2, 3]))
    connection.send(bytes([4, 5, 6]))
    assert connection.next() == f"{reply}{PLACEHOLDERS}]"
    assert connection.next() == bytes([1, 2, 3])
    assert connection.next() == bytes([4, 5, 6])


@pytest.mark.parametrize(
    "bad",
    ["4abc", "42{}", '42abc["message-with-ack",1,"2",{"3":[false]}]'],
    ids=["unknown-packet-type", "invalid-payload", "invalid-ack-id"],
)
def test_invalid_socketio_packet_closes_the_connection(raw, bad):
    connection = socketio_connection(raw)
    bystander = socketio_connection(raw)
    connection.send(bad)
    connection.closed_by_server()
    bystander.send('42["message","still here"]')
    assert bystander.next() == '42["message-back","still here"]'
