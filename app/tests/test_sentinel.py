"""The message queue through Redis Sentinel (redis+sentinel://, rediss+sentinel://): the worker asks the Sentinels for
the primary without logging in, logs in to the primary it was named, subscribes there and says which one it is; over
TLS both the Sentinels' and the primary's certificates are verified against the CA the URL names; when the Sentinels
announce a new primary, the worker subscribes and publishes there at once.

Real sockets on loopback (TLS with a throw-away CA): Sentinels and Redis servers that answer the protocol just enough
for a subscription and a publish, recording every command they get, and that can die without a word or restart.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import socketio

from socketapp import health, logs, rooms
from socketapp.events import Counters

CHANNEL = "flask-socketio"


HELLO = b"%1\r\n$5\r\nproto\r\n:3\r\n"  # redis-py speaks RESP3: it opens with HELLO 3 (AUTH user password)


def bulks(*words: str | int) -> bytes:
    encoded = [str(word).encode() for word in words]
    return b"".join(b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded)


def logins(server: Server) -> list[list[str]]:
    """The login each connection sent (AUTH, or HELLO with AUTH)."""
    return [words for words in server.commands if words[0].upper() == "AUTH" or "AUTH" in words[1:]]


class Server:
    """A TCP (or TLS) listener on loopback that answers each command with `answer(words)` and records them."""

    def __init__(self, answer: Callable[[list[str]], bytes], context: ssl.SSLContext | None = None) -> None:
        self.answer, self.context = answer, context
        self.commands: list[list[str]] = []
        # The connections subscribed now (each once its subscription was confirmed).
        self.subscribers: list[socket.socket] = []
        self.connections: set[socket.socket] = set()
        self.silent = False
        self.port = 0
        self.start()

    def start(self) -> None:
        """Listen: on a port of its own, or on the same port again after stop()."""
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def stop(self) -> None:
        """The process ends (or restarts): no more connections, and its clients' connections closed."""
        self.listener.close()
        for conn in list(self.connections):
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # ends the read that serves it

    def hang(self) -> None:
        """Its host dies without a word (no reset): what its clients send is never answered, no more published
        message reaches them, and new connections are refused (a dead host's would time out)."""
        self.silent = True
        self.listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return  # closed
            try:
                conn = self.context.wrap_socket(raw, server_side=True) if self.context else raw
            except (ssl.SSLError, OSError):
                raw.close()  # a client that refused our certificate
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        self.connections.add(conn)
        with conn, conn.makefile("rb") as reader:
            try:
                while line := reader.readline():
                    words = []
                    for _ in range(int(line[1:])):
                        size = int(reader.readline()[1:])
                        words.append(reader.read(size + 2)[:size].decode())
                    self.commands.append(words)
                    if self.silent:
                        continue
                    if words[0].upper() == "PUBLISH":
                        self.deliver(words[1], words[2])
                    conn.sendall(self.answer(words))
                    if words[0].upper() == "SUBSCRIBE":
                        self.subscribers.append(conn)
            except OSError:
                pass  # the client went away
            finally:
                self.connections.discard(conn)
                if conn in self.subscribers:
                    self.subscribers.remove(conn)

    def deliver(self, channel: str, data: str) -> None:
        """What Redis does with a PUBLISH: the message to every connection subscribed (all of them on one channel)."""
        if self.silent:
            return
        for subscriber in list(self.subscribers):
            with suppress(OSError):  # one that went away meanwhile
                subscriber.sendall(b"*3\r\n$7\r\nmessage\r\n" + bulks(channel, data))

    def close(self) -> None:
        self.listener.close()


def redis_answer(words: list[str]) -> bytes:
    command = words[0].upper()
    if command == "HELLO":
        return HELLO
    if command == "PING":
        return b"+PONG\r\n"
    if command == "SUBSCRIBE":
        return b"*3\r\n$9\r\nsubscribe\r\n" + b"$%d\r\n%s\r\n:1\r\n" % (len(words[1]), words[1].encode())
    if command == "PUBLISH":
        return b":4\r\n"
    return b"+OK\r\n"


def sentinel_answer(primary_port: int | list[int]) -> Callable[[list[str]], bytes]:
    """A Sentinel that knows one master, `websocket`, on 127.0.0.1:primary_port (or on the port a list holds now: the
    test changes it for a failover). Clients may subscribe to its announcements."""
    named = primary_port if isinstance(primary_port, list) else [primary_port]

    def answer(words: list[str]) -> bytes:
        if [word.upper() for word in words[:2]] == ["SENTINEL", "MASTERS"]:
            state = ["name", "websocket", "ip", "127.0.0.1", "port", named[0], "flags", "master"]
            state += ["num-other-sentinels", 2, "quorum", 2]
            return b"*1\r\n%%%d\r\n" % (len(state) // 2) + bulks(*state)
        if words[0].upper() == "HELLO":
            return HELLO if "AUTH" not in words else b"-ERR a Sentinel that wants no login got one\r\n"
        if words[0].upper() == "SUBSCRIBE":
            return redis_answer(words)
        return b"+PONG\r\n" if words[0].upper() == "PING" else b"+OK\r\n"

    return answer


def server_context(pki: dict[str, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server"], pki["key"])
    return context


@contextmanager
def queue(
    context: ssl.SSLContext | None = None, answer: Callable[[list[str]], bytes] = redis_answer
) -> Iterator[tuple[Server, Server, str]]:
    """A primary (answering with `answer`) and a Sentinel naming it; yields both and the Sentinel list of a URL: a dead
    Sentinel first (a port that refuses), then the live one."""
    primary = Server(answer, context)
    sentinel = Server(sentinel_answer(primary.port), context)
    dead = socket.create_server(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    try:
        yield primary, sentinel, f"127.0.0.1:{dead_port},127.0.0.1:{sentinel.port}"
    finally:
        primary.close()
        sentinel.close()


def subscribed(manager: rooms.QueueManager) -> str:
    """Run the worker's listen loop until it subscribed or gave up once; its state then."""
    threading.Thread(target=next, args=(manager._redis_listen_with_retries(),), daemon=True).start()
    deadline = time.monotonic() + 10
    while manager.subscription == "connecting" and time.monotonic() < deadline:
        time.sleep(0.05)
    return manager.subscription


def test_the_worker_subscribes_on_the_primary_the_sentinels_name():
    with queue() as (primary, sentinel, sentinels):
        url = f"redis+sentinel://websocket:pw-0123456789abcdef@{sentinels}/0/websocket"
        manager = rooms.client_manager(url, CHANNEL)
        assert isinstance(manager, rooms.QueueManager)
        started = time.monotonic()
        assert subscribed(manager) == "subscribed"
        # The first Sentinel refused: the next one was asked at once (redis-py's own retries took seconds).
        assert time.monotonic() - started < 1
        assert manager.primary == f"127.0.0.1:{primary.port}"
        report = health.report(manager, Counters())
        assert (report["status"], report["message_queue_primary"]) == ("ok", f"127.0.0.1:{primary.port}")
        # Asked the Sentinel without a login; logged in to the primary as the URL's user, subscribed there.
        assert ["SENTINEL", "MASTERS"] in sentinel.commands
        assert logins(sentinel) == []
        assert logins(primary) == [["HELLO", "3", "AUTH", "websocket", "pw-0123456789abcdef"]]
        assert ["SUBSCRIBE", CHANNEL] in primary.commands


def test_a_write_only_emitter_publishes_on_the_primary():
    with queue() as (primary, _, sentinels):
        emitter = rooms.QueueManager(f"redis+sentinel://{sentinels}/0/websocket", CHANNEL, write_only=True)
        emitter.emit("broadcast", "hello")
        published = [words for words in primary.commands if words[0].upper() == "PUBLISH"]
        assert [(words[1], '"hello"' in words[2]) for words in published] == [(CHANNEL, True)]


def until(condition: Callable[[], object], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("through_sentinel", [False, True], ids=["redis", "sentinel"])
def test_a_publisher_reconnect_leaves_the_listener_subscribed(through_sentinel: bool):
    """python-socketio's _publish reconnects (_redis_connect) after a failed publish, from the emitting client's
    greenlet, while the listener waits on Redis in its own greenlet: connecting to subscribe, or subscribed. Either
    way the listener must keep its one subscription, receive what is published, and report its own Redis."""
    connecting, go_on = threading.Event(), threading.Event()

    def answer(words: list[str]) -> bytes:
        if words[0].upper() == "HELLO" and not connecting.is_set():
            connecting.set()  # the listener's connection to Redis, before its SUBSCRIBE: held until the test says
            go_on.wait(10)
        return redis_answer(words)

    with queue(answer=answer) as (primary, _, sentinels):
        url = f"redis+sentinel://{sentinels}/0/websocket" if through_sentinel else f"redis://127.0.0.1:{primary.port}/0"
        manager = rooms.client_manager(url, CHANNEL)
        received: list[bytes] = []

        def listen() -> None:
            for data in manager._listen():
                received.append(data)

        threading.Thread(target=listen, daemon=True).start()
        assert connecting.wait(10)
        manager._redis_connect()  # as _publish does after a failed publish: while the listener connects
        go_on.set()
        until(lambda: primary.subscribers)
        manager._redis_connect()  # and while it is subscribed
        # Another worker broadcasts at once.
        rooms.QueueManager(url, CHANNEL, write_only=True).emit("broadcast", "after the reconnects")
        until(lambda: received)
        assert [json.loads(data)["data"] for data in received] == [["after the reconnects"]]
        assert [words for words in primary.commands if words[0].upper() == "SUBSCRIBE"] == [["SUBSCRIBE", CHANNEL]]
        assert (manager.subscription, manager.primary) == ("subscribed", f"127.0.0.1:{primary.port}")


def test_over_tls_the_sentinels_and_the_primary_are_verified(pki: dict[str, Path]):
    with queue(server_context(pki)) as (primary, sentinel, sentinels):
        url = f"rediss+sentinel://websocket:pw-0123456789abcdef@{sentinels}/0/websocket?ssl_ca_certs={pki['ca']}"
        manager = rooms.client_manager(url, CHANNEL)
        assert subscribed(manager) == "subscribed"
        assert manager.primary == f"127.0.0.1:{primary.port}"
        assert ["SENTINEL", "MASTERS"] in sentinel.commands
        assert ["SUBSCRIBE", CHANNEL] in primary.commands


def test_over_tls_a_sentinel_with_a_certificate_of_another_ca_is_refused(pki: dict[str, Path]):
    with queue(server_context(pki)) as (primary, sentinel, sentinels):
        url = f"rediss+sentinel://websocket:pw-0123456789abcdef@{sentinels}/0/websocket?ssl_ca_certs={pki['stranger']}"
        manager = rooms.client_manager(url, CHANNEL)
        assert subscribed(manager) == "down"
        assert manager.primary is None
        assert health.report(manager, Counters())["status"] == "degraded"
        assert sentinel.commands == []
        assert primary.commands == []


def test_sentinel_urls_are_read_with_python_socketio_syntax():
    url = "rediss+sentinel://websocket:pw@10.0.0.1:26379,10.0.0.2:26380/0/websocket?ssl_ca_certs=/etc/ca.pem"
    assert rooms.sentinel_url(url) == (
        [("10.0.0.1", 26379), ("10.0.0.2", 26380)],
        "websocket",
        {"username": "websocket", "password": "pw", "db": 0},
    )
    options = rooms.redis_options(url)
    assert options == rooms.LIVENESS_OPTIONS | {
        "ssl_min_version": ssl.TLSVersion.TLSv1_2,
        "ssl": True,
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "ssl_ca_certs": "/etc/ca.pem",
    }
    assert rooms.redis_options("redis+sentinel://10.0.0.1:26379/0/websocket") == rooms.LIVENESS_OPTIONS


@pytest.mark.parametrize("query", ["ssl_cert_reqs=none", "ssl_check_hostname=false"])
def test_a_sentinel_url_that_turns_verification_off_is_refused(query: str):
    with pytest.raises(ValueError, match="rediss\\+sentinel:// URL sets ssl_"):
        rooms.client_manager(f"rediss+sentinel://10.0.0.1:26379/0/websocket?{query}", CHANNEL)


def test_a_queue_that_is_not_redis_is_refused():
    with pytest.raises(ValueError, match="redis\\+sentinel:// or rediss\\+sentinel:// URL, got amqp://"):
        rooms.client_manager("amqp://guest:guest@10.0.0.1:5672//", CHANNEL)


def worker(sentinels: list[Server], query: str = "") -> rooms.QueueManager:
    """A worker's manager on these Sentinels, started as its Socket.IO server starts it: the listener, and a watcher
    per Sentinel. Over TLS if `query` names a CA."""
    scheme = "rediss+sentinel" if query else "redis+sentinel"
    url = f"{scheme}://" + ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in sentinels) + f"/0/websocket{query}"
    manager = rooms.client_manager(url, CHANNEL)
    assert isinstance(manager, rooms.QueueManager)
    # The app's logger, one per worker: the workers of earlier tests live on (their listeners retry and log).
    logger = logs.library_logger(f"socketio.server.{id(manager)}", verbose=False, level="INFO")
    socketio.Server(client_manager=manager, async_mode="threading", logger=logger)
    manager.initialize()  # what the server does on its first connection
    return manager


def published(server: Server, text: str) -> bool:
    return any(words[0].upper() == "PUBLISH" and text in words[2] for words in server.commands)


def lines(caplog: pytest.LogCaptureFixture, manager: rooms.QueueManager, start: str) -> list[tuple[str, str]]:
    """What this worker logged that starts with `start`."""
    name = manager.server.logger.name
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == name and r.msg.startswith(start)]


@pytest.mark.parametrize("over_tls", [False, True], ids=["plain", "tls"])
def test_a_failover_the_sentinels_announce_moves_the_worker_at_once(
    over_tls: bool, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
):
    """The primary's host dies without a word, its Sentinel with it: the worker's subscription and a publish on the
    dead primary would wait for TCP keepalive (about 8 s). The other Sentinels promote a replica and announce it:
    the worker subscribes there, and publishes there, at once."""
    pki: dict[str, Path] | None = request.getfixturevalue("pki") if over_tls else None
    context = server_context(pki) if pki else None
    query = f"?ssl_ca_certs={pki['ca']}" if pki else ""
    old, new = Server(redis_answer, context), Server(redis_answer, context)
    named = [old.port]
    sentinels = [Server(sentinel_answer(named), context) for _ in range(3)]
    manager = worker(sentinels, query)
    until(lambda: manager.primary and all(sentinel.subscribers for sentinel in sentinels))
    assert manager.primary == f"127.0.0.1:{old.port}"
    assert [len(sentinel.subscribers) for sentinel in sentinels] == [1, 1, 1]  # a watcher each
    assert ["SUBSCRIBE", rooms.SWITCH_CHANNEL] in sentinels[0].commands
    sid = manager.connect("client", "/")
    manager.emit("broadcast", "before")  # the publisher is connected to the primary too

    old.hang()
    sentinels[0].hang()
    named[0] = new.port  # the live Sentinels promoted the replica
    # A client's broadcast meanwhile: its publish waits on the dead primary.
    during = threading.Thread(target=manager.emit, args=("broadcast", "during the failover"), daemon=True)
    during.start()
    until(lambda: published(old, "during the failover"))
    assert manager.primary == f"127.0.0.1:{old.port}"  # nothing noticed yet
    with caplog.at_level(logging.WARNING):
        started = time.monotonic()
        for sentinel in sentinels[1:]:  # each announces the same switch
            sentinel.deliver(rooms.SWITCH_CHANNEL, f"websocket 127.0.0.1 {old.port} 127.0.0.1 {new.port}")
        # Another worker, on the new primary, puts this worker's client in a room as soon as this one is there.
        until(lambda: manager.primary == f"127.0.0.1:{new.port}", 3)
        on_new = f"{'rediss' if pki else 'redis'}://127.0.0.1:{new.port}/0{query}"
        rooms.QueueManager(on_new, CHANNEL, write_only=True).enter_room(sid, "/", "moved")
        until(lambda: "moved" in manager.get_rooms(sid, "/") and published(new, "during the failover"), 3)
        elapsed = time.monotonic() - started
    assert set(manager.get_rooms(sid, "/")) == {sid, "moved"}
    assert published(new, "during the failover")
    # Well under keepalive's 8 s, and under the 2 s a question to the hung Sentinel would cost: the listener and the
    # publisher ask the Sentinel that announced the switch first.
    assert elapsed < 1.5
    # One resubscription and one line for the switch, however many Sentinels announced it; no retry wait.
    assert [words for words in new.commands if words[0].upper() == "SUBSCRIBE"] == [["SUBSCRIBE", CHANNEL]]
    assert lines(caplog, manager, "Redis primary switched") == [
        ("WARNING", f"Redis primary switched to 127.0.0.1:{new.port} (from 127.0.0.1:{old.port}): resubscribing")
    ]
    assert lines(caplog, manager, "Cannot receive from redis") == []
    assert manager.subscription == "subscribed"


def test_a_watcher_whose_sentinel_restarts_watches_it_again(caplog: pytest.LogCaptureFixture):
    old, new = Server(redis_answer), Server(redis_answer)
    named = [old.port]
    sentinel = Server(sentinel_answer(named))
    with caplog.at_level(logging.WARNING):
        manager = worker([sentinel])
        until(lambda: manager.primary and sentinel.subscribers)
        assert manager.primary == f"127.0.0.1:{old.port}"
        sentinel.stop()
        until(lambda: lines(caplog, manager, "Cannot watch Sentinel"))
        time.sleep(rooms.WATCH_RETRY * 1.5)  # it asked again at least once: refused
        sentinel.start()  # on the same port
        until(lambda: sentinel.subscribers)
        named[0] = new.port
        sentinel.deliver(rooms.SWITCH_CHANNEL, f"websocket 127.0.0.1 {old.port} 127.0.0.1 {new.port}")
        until(lambda: manager.primary == f"127.0.0.1:{new.port}", 3)
    assert manager.primary == f"127.0.0.1:{new.port}"
    assert len(lines(caplog, manager, "Cannot watch Sentinel")) == 1  # once per outage, not once per attempt


def test_a_switch_of_another_master_or_to_where_the_worker_is_changes_nothing(caplog: pytest.LogCaptureFixture):
    primary, other = Server(redis_answer), Server(redis_answer)
    named = [primary.port]
    sentinel = Server(sentinel_answer(named))
    with caplog.at_level(logging.WARNING):
        manager = worker([sentinel])
        until(lambda: manager.primary and sentinel.subscribers)
        sentinel.deliver(rooms.SWITCH_CHANNEL, f"another 127.0.0.1 {primary.port} 127.0.0.1 {other.port}")
        sentinel.deliver(rooms.SWITCH_CHANNEL, f"websocket 127.0.0.1 {other.port} 127.0.0.1 {primary.port}")
        # Announcements arrive in order on the watcher's connection: one acted on shows the two before were read.
        named[0] = other.port
        sentinel.deliver(rooms.SWITCH_CHANNEL, f"websocket 127.0.0.1 {primary.port} 127.0.0.1 {other.port}")
        until(lambda: manager.primary == f"127.0.0.1:{other.port}")
    assert [line for _, line in lines(caplog, manager, "Redis primary switched")] == [
        f"Redis primary switched to 127.0.0.1:{other.port} (from 127.0.0.1:{primary.port}): resubscribing"
    ]
    assert [words for words in primary.commands if words[0].upper() == "SUBSCRIBE"] == [["SUBSCRIBE", CHANNEL]]
