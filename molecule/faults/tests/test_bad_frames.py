"""Bad client frames through nginx: each one gets a protocol-level rejection or a close; the worker stays up and a
healthy client on the same worker (there is one on every worker) keeps echoing throughout."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import websocket

from containers import sh
from faultlib import (
    CLOSED,
    QUIET,
    EchoProbe,
    RawSocket,
    journal_after,
    journal_cursor,
    pinned_clients,
    wait_for,
    worker_pids,
)
from testlib import WAIT, Client, sid_prefix

UWSGI_LIMIT = 1024 * 1024  # uWSGI's own websocket-max-size default (1024 KiB)


def event_frame(length: int) -> str:
    """An Engine.IO message carrying a Socket.IO "message" event, exactly `length` characters long."""
    head, tail = '42["message","', '"]'
    return head + "x" * (length - len(head) - len(tail)) + tail


@dataclass(frozen=True)
class Case:
    query: str  # Engine.IO handshake query
    frames: Callable[[int], list[str | bytes]]  # given the app's max message size
    expect: str  # closed | engineio-close | reply | ignored | echo | refused
    reply: str = ""  # expect=reply: the start of the reply
    logged: str = ""  # a line the app (or uWSGI) must log for it


EIO4 = "EIO=4&transport=websocket"
CASES = {
    # Malformed Engine.IO packets: the WebSocket is closed.
    "engineio-unknown-type": Case(EIO4, lambda _: ["9hello"], "closed", logged="not an Engine.IO packet: '9hello'"),
    "engineio-not-a-packet": Case(EIO4, lambda _: ["x{}"], "closed", logged="not an Engine.IO packet: 'x{}'"),
    # uWSGI's driver decodes a binary frame starting with a printable byte as text.
    "binary-garbage-as-text": Case(
        EIO4, lambda _: [b"\xff\xfe\x00garbage"], "closed", logged="not an Engine.IO packet: undecodable"
    ),
    # Malformed Socket.IO packets: Engine.IO's close packet, the session ends.
    "binary-garbage": Case(EIO4, lambda _: ["40", b"\x01\xfe\x00garbage"], "engineio-close", logged="bad Socket.IO"),
    "invalid-json": Case(EIO4, lambda _: ["40", '42["message",'], "engineio-close", logged="bad Socket.IO packet"),
    "socketio-unknown-type": Case(EIO4, lambda _: ["40", "49x"], "engineio-close", logged="bad Socket.IO packet"),
    "event-before-connect": Case(
        EIO4, lambda _: ['42["message","x"]'], "engineio-close", logged="which the client has not joined"
    ),
    # Unknown namespace: Socket.IO's CONNECT_ERROR; the connection stays usable for the default namespace.
    "unknown-namespace": Case(EIO4, lambda _: ["40/nope,"], "reply", reply="44/nope,"),
    # uWSGI drops empty frames before the app sees them: nothing happens, the connection stays usable.
    "empty-frame": Case(EIO4, lambda _: [""], "ignored"),
    # Wrong protocol versions: the handshake is refused.
    "engineio-v3": Case("EIO=3&transport=websocket", lambda _: [], "refused"),
    "engineio-version-garbage": Case("EIO=x&transport=websocket", lambda _: [], "refused"),
    "unknown-transport": Case("EIO=4&transport=pigeon", lambda _: [], "refused"),
    # Sizes: the largest allowed message is echoed, one byte more closes that client, far more is cut by uWSGI.
    "largest-allowed-message": Case(EIO4, lambda limit: ["40", event_frame(limit)], "echo"),
    "one-byte-over-the-limit": Case(
        EIO4, lambda limit: ["40", event_frame(limit + 1)], "closed", logged="exceeds the maximum of"
    ),
    "far-over-every-limit": Case(
        EIO4,
        lambda limit: ["40", event_frame(2 * limit + UWSGI_LIMIT)],
        "closed",
        logged="invalid packet size received",
    ),
}


@pytest.fixture(scope="module")
def limit(container: str) -> int:
    env = sh(container, "cat", "/etc/websocket/websocket.env").stdout
    return int(re.search(r"^WEBSOCKET_MAX_MESSAGE_SIZE=(\d+)$", env, re.MULTILINE).group(1))


@pytest.fixture(scope="module")
def bystanders(container: str, url: str) -> Iterator[tuple[list[Client], EchoProbe]]:
    """A healthy client through nginx on every worker, so one shares the worker of each raw client wherever nginx
    puts it, echoing in the background for the whole module."""
    with pinned_clients(container, url, per_worker=1) as pinned:
        everyone = pinned.all()
        with EchoProbe(everyone, interval=0.3, timeout=WAIT) as probe:
            yield everyone, probe


def test_the_advertised_max_payload_is_the_setting(url, healthy, limit):
    raw = RawSocket(url)
    try:
        assert raw.open_packet["maxPayload"] == limit
    finally:
        raw.close()


@pytest.mark.parametrize("name", CASES)
def test_bad_frame_is_refused_and_nobody_else_notices(url, container, healthy, limit, bystanders, name):
    case = CASES[name]
    clients, probe = bystanders
    cursor = journal_cursor(container, "websocket")

    if case.expect == "refused":
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            RawSocket(url, case.query)
        assert refused.value.status_code == 400
    else:
        raw = RawSocket(url, case.query)
        # The healthy client on the raw client's own worker (its session id names the worker), echoing meanwhile.
        neighbours = [
            i for i, c in enumerate(clients) if sid_prefix(c.sio.eio.sid) == sid_prefix(raw.open_packet["sid"])
        ]
        assert len(neighbours) == 1, "no healthy client shares the raw client's worker"
        before = probe.successes()[neighbours[0]]
        try:
            raw.send(*case.frames(limit))
            replies = raw.replies()
            if case.expect == "closed":
                assert replies[-1] == CLOSED, replies
            elif case.expect == "engineio-close":
                assert replies[-1] == "1", replies  # Engine.IO close packet
            elif case.expect == "echo":
                assert replies[0].startswith("40{"), replies[:1]
                assert replies[1] == case.frames(limit)[1], "the largest allowed message did not come back whole"
            else:
                if case.expect == "reply":
                    assert replies[0].startswith(case.reply), replies
                else:
                    assert replies == [QUIET], replies
                # Still a working connection: join the default namespace and echo on it.
                raw.send("40", '42["message","still here"]')
                assert raw.replies()[:2][-1] == '42["message","still here"]'
        finally:
            raw.close()

    if case.logged:
        wait_for(
            lambda: any(case.logged in line for line in journal_after(container, "websocket", cursor)),
            WAIT,
            f"the log line {case.logged!r}",
        )
    assert not [line for line in journal_after(container, "websocket", cursor) if "Traceback" in line]
    assert worker_pids(container) == healthy, "a worker died or was replaced"
    assert [len(client.connected_at) for client in clients] == [1] * len(clients), "a healthy client was disconnected"
    assert set(probe.failures().values()) == {0}, "a healthy client missed an echo"
    assert all(count > 0 for count in probe.successes().values())
    if case.expect != "refused":
        wait_for(lambda: probe.successes()[neighbours[0]] > before, WAIT, "the raw client's neighbour to echo again")
