"""Just enough RFC 6455 for a load generator: the client handshake, masked text frames out, frames in.

The load generator shares the 2 cores with the server it measures, so every microsecond it spends per message is
taken from the server. A general-purpose client (websockets: a sans-I/O parser, futures and a reader task per
connection) cost about a core at 6,000 echoes/s; this one parses frames in `data_received` and hands text
messages to a callback synchronously, with no task or future per message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import struct
from collections.abc import Callable
from typing import cast

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class HandshakeError(ConnectionError):
    """The server did not switch protocols."""


def mask(payload: bytes, key: bytes) -> bytes:
    # XOR as one big integer: far cheaper in Python than a loop over the bytes.
    n = len(payload)
    if not n:
        return payload
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    # Unpredictable enough for a load generator (the key guards browsers against proxy poisoning), without a
    # getrandom system call per message.
    key = random.getrandbits(32).to_bytes(4, "big")
    return header + key + mask(payload, key)


class WebSocket(asyncio.Protocol):
    """A client connection; `on_text(str)` gets each text message, `on_close()` once when the connection ends."""

    def __init__(self, host: str, path: str, on_text: Callable[[str], None], on_close: Callable[[], None]) -> None:
        self.host, self.path, self.on_text, self.on_close = host, path, on_text, on_close
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.key = base64.b64encode(os.urandom(16))
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.transport.write(
            b"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (self.path.encode(), self.host.encode(), self.key)
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[: end + 4]
            expected = base64.b64encode(hashlib.sha1(self.key + GUID).digest()).decode()
            if not head.startswith("HTTP/1.1 101") or expected not in head:
                status = head.split("\r\n", 1)[0]
                self.handshake.set_exception(HandshakeError(f"no upgrade: {status}"))
                assert self.transport is not None
                self.transport.close()
                return
            self.open = True
            self.handshake.set_result(None)
        self.parse()

    def parse(self) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            first, second = buf[0], buf[1]
            length, start = second & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, start = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, start = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < start + length:
                return
            payload = bytes(buf[start : start + length])
            del buf[: start + length]
            opcode = first & 0x0F
            if opcode == TEXT:
                self.on_text(payload.decode())
            elif opcode == PING:
                self.send(PONG, payload)
            elif opcode == CLOSE:
                self.close()
                return

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(opcode, payload))

    def send_text(self, text: str) -> None:
        self.send(TEXT, text.encode())

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send(CLOSE, struct.pack("!H", 1000))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionResetError("closed during the handshake"))
        self.open = False
        self.on_close()


async def connect(
    host: str, port: int, path: str, source: str, on_text: Callable[[str], None], on_close: Callable[[], None]
) -> WebSocket:
    """Open a WebSocket from `source` (a local address); returns once the server switched protocols."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: WebSocket(f"{host}:{port}", path, on_text, on_close),
        host,
        port,
        local_addr=(source, 0) if source else None,
    )
    await protocol.handshake
    return protocol
