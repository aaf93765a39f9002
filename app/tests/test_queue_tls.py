"""The message queue over TLS (rediss://): the server's certificate is verified against the CA the URL names, and the
liveness options (keepalive, TCP_USER_TIMEOUT) still reach the TCP socket under TLS.

A real TLS handshake on loopback with a throw-away CA; the server answers Redis's protocol just enough for a PING.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from socketapp import rooms

ANSWERS = {b"HELLO": b"%1\r\n$5\r\nproto\r\n:3\r\n", b"PING": b"+PONG\r\n"}


def _serve(conn: ssl.SSLSocket) -> None:
    """Answer each command (a RESP array of bulk strings): the protocol version to HELLO (redis-py speaks RESP3),
    PONG to PING, OK to anything else."""
    with conn, conn.makefile("rb") as reader:
        while line := reader.readline():
            count = int(line[1:])
            words = []
            for _ in range(count):
                size = int(reader.readline()[1:])
                words.append(reader.read(size + 2)[:size])
            command = words[0].upper()
            conn.sendall(ANSWERS.get(command, b"+OK\r\n"))


@pytest.fixture(scope="module")
def tls_server(pki: dict[str, Path]) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server"], pki["key"])
    listener = socket.create_server(("127.0.0.1", 0))

    def accept_forever() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return  # closed at the end of the module
            try:
                conn = context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()  # a client that refused our certificate
                continue
            threading.Thread(target=_serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_forever, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def _manager(url: str) -> rooms.IndexedRedisManager:
    manager = rooms.client_manager(url, "test")
    assert isinstance(manager, rooms.IndexedRedisManager)
    manager._redis_connect()
    return manager


def test_a_client_trusting_the_ca_talks_tls_with_the_liveness_options(tls_server: int, pki: dict[str, Path]):
    manager = _manager(f"rediss://127.0.0.1:{tls_server}/0?ssl_ca_certs={pki['ca']}")
    assert manager.redis.ping() is True
    connection = manager.redis.connection_pool.get_connection()
    try:
        sock = connection._sock
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        # Set on the TCP socket before the handshake, still there under TLS.
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 5
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 8000
    finally:
        manager.redis.connection_pool.release(connection)


@pytest.mark.parametrize("trust", ["stranger", "system"])
def test_a_client_not_trusting_the_ca_is_refused(tls_server: int, pki: dict[str, Path], trust: str):
    ca = f"?ssl_ca_certs={pki['stranger']}" if trust == "stranger" else ""
    manager = _manager(f"rediss://127.0.0.1:{tls_server}/0{ca}")
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        manager.redis.ping()


def test_a_certificate_for_another_name_is_refused(tls_server: int, pki: dict[str, Path]):
    # Same server, reached as "localhost": the certificate names 127.0.0.1 only.
    manager = _manager(f"rediss://localhost:{tls_server}/0?ssl_ca_certs={pki['ca']}")
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        manager.redis.ping()


def test_plain_redis_urls_keep_the_liveness_options_only():
    assert rooms.redis_options("redis://:pw@127.0.0.1:6379/0") == rooms.LIVENESS_OPTIONS
    tls = rooms.redis_options("rediss://:pw@127.0.0.1:6379/0")
    assert tls == rooms.LIVENESS_OPTIONS | {"ssl_min_version": ssl.TLSVersion.TLSv1_2}


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("ssl_cert_reqs=none", "ssl_cert_reqs=none"),
        ("ssl_cert_reqs=required&ssl_cert_reqs=optional", "ssl_cert_reqs=optional"),
        ("ssl_check_hostname=false", "ssl_check_hostname off"),
    ],
)
def test_a_url_that_turns_verification_off_is_refused(query: str, fragment: str):
    with pytest.raises(ValueError, match=fragment):
        rooms.client_manager(f"rediss://:pw@127.0.0.1:6379/0?{query}", "test")
