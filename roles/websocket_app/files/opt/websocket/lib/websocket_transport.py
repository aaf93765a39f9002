"""The bundle's WebSocket transport for python-engineio under uWSGI + gevent, imported by every worker of any app.

uWSGI (`pyimport = websocket_transport`, before the app loads) imports this module; it replaces python-engineio's
`gevent_uwsgi` WebSocket driver and the WebSocket half of `engineio.socket.Socket`. On uWSGI 2.0 that driver runs a
select greenlet, an Event waited with a 3 s timeout and a send queue per connection, plus Engine.IO's writer
greenlet: every idle connection wakes every 3 s and every message crosses three greenlets. Here, per connection:

- the uWSGI request greenlet is the only reader: it waits on the connection's descriptor with one persistent gevent
  io watcher (no timer, no extra greenlet), then drains `uwsgi.websocket_recv_nb()` until it returns nothing;
- sends never switch: the frame is written to the non-blocking descriptor at once from whichever greenlet sends;
  what the kernel does not take is kept in an output buffer that a write watcher flushes from the hub;
- Engine.IO's heartbeat runs on two hub timers per connection instead of a greenlet per ping and a sweep over
  every session;
- every server-side close (ping timeout, client CLOSE packet, invalid packet, disconnect) wakes the reader, which
  flushes, sends a WebSocket close frame and returns, and uWSGI closes the TCP connection.

It also fixes, for any app, where python-engineio and python-socketio depart from the Engine.IO v4 / Socket.IO v5
specifications (see `install_conformance`).

Reliance on uWSGI and library internals, checked against uWSGI 2.0.31, python-engineio 4.15.1, python-socketio
5.18.1 and gevent 26.9.0:
- `uwsgi.connection_fd()` is the client's plain stream socket, non-blocking (async mode), so a server frame
  written to it is what uWSGI's `websocket_send` would write (`core/websockets.c`: unmasked, 0x81/0x82 + length).
  This holds for `http-socket`/`socket` without TLS, which is what the role configures; with uWSGI's own TLS
  (`https-socket`, `ssl-socket`) the transport is not installed.
- Writes of our own never interleave with uWSGI's (its PONG and CLOSE replies inside `websocket_recv_nb`): while
  the reader is inside uWSGI, sends go to the output buffer, and `websocket_recv_nb` is not called while the
  buffer holds bytes.
- The request structure is reused by uWSGI after the request greenlet returns: nothing is written after the
  reader has marked the connection finished, which it does before it returns.
- uWSGI hands text and binary frames over alike as bytes; like python-engineio's driver, a frame whose first byte
  is 48 ("0") or more is Engine.IO text, anything below binary.
- uWSGI's own WebSocket ping/pong bookkeeping runs inside `websocket_recv_nb`, i.e. whenever data arrives (Engine.IO
  PONGs arrive every ping interval), so `websocket-pong-tolerance` must cover the Engine.IO ping timeout.

If the running uWSGI or python-engineio lacks what this needs, nothing is replaced and one warning says why:
python-engineio's own driver serves the connections.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import time
from typing import Any

import gevent
from gevent.socket import wait_read, wait_write

log = logging.getLogger("websocket_transport")

# A client that stops reading gets this much queued for it, then it is disconnected (Engine.IO would queue forever).
MAX_BUFFERED = 16 * 1024 * 1024
# How long a closing connection may take to drain its output buffer before the close frame, and then to answer it.
FLUSH_ON_CLOSE_SECONDS = 5.0
CLOSE_REPLY_SECONDS = 1.0
CLOSE_FRAME = b"\x88\x02\x03\xe8"  # WebSocket close, status 1000 (normal closure)
ENGINEIO_TYPES = frozenset("0123456")  # open, close, ping, pong, message, upgrade, noop
_READABLE = "readable"
_WAKE = "wake"


class Counts:
    """What this worker served since it started, read by websocket_metrics.py (the role's metrics, when on).

    Plain integers bumped where the event happens: a worker is one thread of greenlets and an increment never
    switches, so no lock and no system call; the cost is one attribute increment per message."""

    __slots__ = (
        "broadcasts",
        "connects",
        "disconnects",
        "emit_recipients",
        "emits",
        "received",
        "sent",
        "websockets_closed",
        "websockets_opened",
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)


# Engine.IO sessions opened and closed, their MESSAGE packets in and out (any transport), WebSockets opened and
# closed on this transport; emits, broadcasts and their recipients are counted by websocket_metrics.py.
COUNTS = Counts()


def frame(payload: str | bytes) -> bytes:
    """One unfragmented, unmasked server frame (RFC 6455 section 5.2), as uWSGI's websocket_send builds it."""
    if isinstance(payload, str):
        data, opcode = payload.encode(), 0x81
    else:
        data, opcode = bytes(payload), 0x82
    size = len(data)
    if size < 126:
        return bytes((opcode, size)) + data
    if size < 65536:
        return struct.pack("!BBH", opcode, 126, size) + data
    return struct.pack("!BBQ", opcode, 127, size) + data


class Connection:
    """One upgraded WebSocket: its descriptor, output buffer and the reader greenlet that owns it."""

    __slots__ = (
        "closing",
        "eof",
        "fd",
        "finished",
        "hub",
        "in_uwsgi",
        "out",
        "peer",
        "ping_timer",
        "pong_timer",
        "read_watcher",
        "reader",
        "waiting",
        "write_watcher",
    )

    def __init__(self, fd: int, peer: str) -> None:
        self.fd = fd
        self.peer = peer
        self.hub = gevent.get_hub()
        self.reader = gevent.getcurrent()
        loop = self.hub.loop
        self.read_watcher = loop.io(fd, 1)
        self.write_watcher = None
        self.ping_timer: Any = None  # set by the socket when it takes the connection over (BundleSocket.attach)
        self.pong_timer: Any = None
        self.out: bytearray | None = None
        self.waiting = False  # the reader is parked in wait(), nowhere else
        self.in_uwsgi = False  # the reader is inside uWSGI's WebSocket API, which may write
        self.closing = False  # a server-side close was asked for
        self.eof = False  # uWSGI saw the client's close frame, a reset or EOF (and answered a close itself)
        self.finished = False  # the request is over: never touch the descriptor again

    # Writing: never blocks, never switches; safe from any greenlet and from the hub.

    def write(self, data: bytes) -> None:
        if self.finished or self.eof:
            return
        if self.out is not None or self.in_uwsgi:
            self._buffer(data)
            return
        try:
            sent = os.write(self.fd, data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.lost()
            return
        if sent < len(data):
            self._buffer(memoryview(data)[sent:])

    def _buffer(self, data: bytes | memoryview) -> None:
        if self.out is None:
            self.out = bytearray(data)
        else:
            self.out += data
        if len(self.out) > MAX_BUFFERED:
            log.warning("closing WebSocket from %s: it stopped reading (%d bytes queued)", self.peer, len(self.out))
            self.out = None
            self.lost()
            return
        if not self.in_uwsgi:
            self._watch_writable()

    def _watch_writable(self) -> None:
        if self.write_watcher is None:
            self.write_watcher = self.hub.loop.io(self.fd, 2)
        if not self.write_watcher.active:
            self.write_watcher.start(self._flush)

    def _flush(self) -> None:
        # Runs in the hub when the descriptor is writable again.
        out = self.out
        if out is None or self.finished:
            self.write_watcher.stop()
            return
        try:
            sent = os.write(self.fd, out)
        except BlockingIOError:
            return
        except OSError:
            self.out = None
            self.write_watcher.stop()
            self.lost()
            return
        del out[:sent]
        if not out:
            self.out = None
            self.write_watcher.stop()
            self.wake()

    def lost(self) -> None:
        """The peer is gone or hopeless: stop writing and let the reader end the request."""
        self.eof = True
        self.wake()

    # The reader side: only the uWSGI request greenlet calls these.

    def wake(self) -> None:
        if self.waiting:
            self.hub.loop.run_callback(self._wake_if_waiting)

    def _wake_if_waiting(self) -> None:
        # Checked again in the hub: the reader may have been woken by data meanwhile and be elsewhere now.
        if self.waiting:
            self.reader.switch(_WAKE)

    def wait(self) -> None:
        """Park the reader until the descriptor is readable or something needs it (close, flushed buffer)."""
        if self.closing or self.eof:
            return
        # With bytes still queued the reader waits for the flush (receive() would not read: no busy loop).
        reading = self.out is None
        self.waiting = True
        if reading:
            self.read_watcher.start(self.reader.switch, _READABLE)
        try:
            self.hub.switch()
        finally:
            self.waiting = False
            if reading:
                self.read_watcher.stop()

    def next_message(self, inbox: list[bytes], recv_nb: Any) -> bytes | None:
        """The next message (from `inbox`, refilled from uWSGI), or None once the connection is closing or gone."""
        while not inbox:
            if self.closing or self.eof:
                return None
            inbox.extend(self.receive(recv_nb))
            if not inbox:
                self.wait()
        return inbox.pop(0)

    def receive(self, recv_nb: Any) -> list[bytes]:
        """Every complete message uWSGI can hand over now (none when the client has not sent one)."""
        if self.out is not None or self.eof:
            return []  # uWSGI may answer pings inside recv: never while our own frame is half written
        messages = []
        self.in_uwsgi = True
        try:
            while True:
                message = recv_nb()
                if not message:
                    break
                if message != b"\x00":  # uWSGI's placeholder for a fragment of a message still incomplete
                    messages.append(message)
        except OSError:
            self.eof = True
        finally:
            self.in_uwsgi = False
        if self.out is not None:
            self._watch_writable()
        return messages

    def finish(self, linger: bool = True) -> None:
        """Drain what is queued (bounded), send a close frame unless uWSGI already did, never write again.

        Without `linger` (the worker is shutting down and kills its greenlets) only what the kernel takes at once."""
        for timer in (self.ping_timer, self.pong_timer):
            if timer is not None:
                timer.stop()
        if self.write_watcher is not None:
            self.write_watcher.stop()
        if not self.eof:
            deadline = time.monotonic() + (FLUSH_ON_CLOSE_SECONDS if linger else 0)
            try:
                while self.out:
                    wait_write(self.fd, timeout=max(deadline - time.monotonic(), 0.01))
                    del self.out[: os.write(self.fd, self.out)]
                os.write(self.fd, CLOSE_FRAME)
                if linger:
                    # Read the client's close frame before uWSGI closes the socket: closing with unread bytes sends
                    # a reset, which can make the client drop our close frame unread.
                    wait_read(self.fd, timeout=CLOSE_REPLY_SECONDS)
                    os.read(self.fd, 4096)
            except (OSError, TimeoutError):
                pass
        self.out = None
        self.finished = True
        self.read_watcher.close()
        if self.write_watcher is not None:
            self.write_watcher.close()
        for timer in (self.ping_timer, self.pong_timer):
            if timer is not None:
                timer.close()


def decode(message: bytes) -> str | bytes:
    """What python-engineio's driver hands over: text from a first byte of 48 ("0") up, bytes below (binary)."""
    return message.decode("utf-8") if message[0] >= 48 else message


def install() -> bool:
    """Replace python-engineio's uWSGI WebSocket driver in this worker; False (and one warning) if it cannot."""
    try:
        import uwsgi
    except ImportError:
        return False  # not inside uWSGI (unit tests, a development server): nothing to replace
    needed = ("connection_fd", "websocket_handshake", "websocket_recv_nb", "disconnect")
    missing = [name for name in needed if not hasattr(uwsgi, name)]
    tls = [name for name in ("https-socket", "ssl-socket", "https") if name.encode() in getattr(uwsgi, "opt", {})]
    if missing or tls:
        why = f"uWSGI lacks {', '.join(missing)}" if missing else f"uWSGI terminates TLS itself ({', '.join(tls)})"
        log.warning("bundle WebSocket transport not installed: %s; python-engineio's driver serves WebSockets", why)
        return False
    try:
        import engineio.socket
        from engineio import exceptions, packet
        from engineio.async_drivers import gevent_uwsgi
    except ImportError as error:
        log.warning("bundle WebSocket transport not installed: %s; the app's own choice stands", error)
        return False

    MESSAGE = packet.MESSAGE
    ping_frame = frame(packet.Packet(packet.PING).encode())
    pong_probe_frame = frame(packet.Packet(packet.PONG, data="probe").encode())

    class Transport:
        """What python-engineio calls for a WebSocket request (`_async['websocket']`)."""

        def __init__(self, handler: Any, server: Any) -> None:
            self.handler = handler
            self.connection: Connection | None = None

        def __call__(self, environ: dict[str, Any], start_response: Any) -> str:
            uwsgi.websocket_handshake()
            peer = environ.get("HTTP_X_REAL_IP") or environ.get("REMOTE_ADDR") or "?"
            self.connection = Connection(uwsgi.connection_fd(), peer)
            COUNTS.websockets_opened += 1
            linger = True
            try:
                self.handler(self)
            except gevent.GreenletExit:
                linger = False  # the worker is stopping: no waiting on clients
                raise
            finally:
                COUNTS.websockets_closed += 1
                self.connection.finish(linger)
                uwsgi.disconnect()
            return ""  # the response was the handshake; like python-engineio's driver, nothing more

    class BundleSocket(engineio.socket.Socket):
        """Engine.IO's socket with its WebSocket half served by `Connection` (polling is unchanged)."""

        connection: Connection | None = None

        def send(self, pkt: Any) -> None:
            if pkt.packet_type == MESSAGE:
                COUNTS.sent += 1
            connection = self.connection
            if connection is None:
                if pkt.packet_type == packet.OPEN:
                    # python-engineio truncates the interval to whole seconds before converting (0.3 s gave 0 ms).
                    server = self.server
                    pkt.data["pingInterval"] = round((server.ping_interval + server.ping_interval_grace_period) * 1000)
                return super().send(pkt)
            if not self.check_ping_timeout():
                return None
            # One frame per packet object: a broadcast hands every recipient the same packet.
            data = getattr(pkt, "websocket_frame", None)
            if data is None:
                data = pkt.websocket_frame = frame(pkt.encode())
            connection.write(data)
            return None

        def handle_get_request(self, environ: dict[str, Any], start_response: Any) -> Any:
            packets = super().handle_get_request(environ, start_response)
            if packets == [] and self.closed:
                # The spec ends a poll pending when the session closes with a NOOP; python-engineio with nothing.
                return [packet.Packet(packet.NOOP)]
            return packets

        def handle_post_request(self, environ: dict[str, Any]) -> None:
            try:
                super().handle_post_request(environ)
            except (ValueError, UnicodeDecodeError) as error:
                # python-engineio answers an undecodable payload with 200 and a traceback; the spec closes the
                # session (the server turns this error into a 400 and a disconnect).
                log.warning("closing session %s: bad Engine.IO payload: %s", self.sid, error)
                raise exceptions.EngineIOError() from error

        def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
            # Never wait for the queue to drain: on a WebSocket nothing consumes it, and a polling client may not
            # poll again for a ping interval (python-engineio held the request that closed it until then: a POST
            # with a bad payload got its 400 only after the next poll).
            super().close(wait=False, abort=abort, reason=reason)
            connection = self.connection
            if connection is None:
                return None
            connection.closing = True
            connection.wake()
            return None

        # The heartbeat on this transport: two hub timers per connection instead of a greenlet per ping and the
        # service task's sweep. Both repeat so that again() re-arms them (a one-shot libev timer restarted after
        # it fired fires at once); each stops itself when it fires, so neither repeats on its own.

        def attach(self, connection: Connection) -> None:
            loop = connection.hub.loop
            connection.ping_timer = loop.timer(self.server.ping_interval, self.server.ping_interval)
            connection.pong_timer = loop.timer(self.server.ping_timeout, self.server.ping_timeout)
            self.connection = connection
            # The next ping one interval from now; a PONG to a ping sent while polling changes nothing.
            self.last_ping = None
            connection.ping_timer.again(self._ping_due)

        def schedule_ping(self) -> None:
            connection = self.connection
            if connection is None:
                return super().schedule_ping()
            if self.last_ping:
                self.last_ping = None
                connection.pong_timer.stop()
                connection.ping_timer.again(self._ping_due)
            return None

        def _send_ping(self) -> None:
            # python-engineio's ping greenlet, started before the upgrade: the transport's timer took over since.
            self.server.sleep(self.server.ping_interval)
            if self.connection is None and not self.closing and not self.closed:
                self.last_ping = time.time()
                self.send(packet.Packet(packet.PING))

        def _ping_due(self) -> None:
            # In the hub: only a write, which never blocks.
            connection = self.connection
            connection.ping_timer.stop()
            if not self.closing and not self.closed:
                self.last_ping = time.time()
                connection.write(ping_frame)
                connection.pong_timer.again(self._pong_overdue)

        def _pong_overdue(self) -> None:
            # In the hub, which must not run the disconnect handlers: a greenlet closes the session.
            self.connection.pong_timer.stop()
            if not self.closing and not self.closed:
                self.server.logger.info("%s: Client is gone, closing socket", self.sid)
                gevent.spawn(self.close, wait=False, abort=False, reason=self.server.reason.PING_TIMEOUT)

        def _websocket_handler(self, ws: Any) -> list[Any]:
            connection = getattr(ws, "connection", None)
            if connection is None:
                return super()._websocket_handler(ws)
            recv_nb = uwsgi.websocket_recv_nb
            inbox: list[bytes] = []
            if self.connected:
                # Upgrade from polling: 2probe, 3probe, then 5 (the spec's order; anything else ends it).
                self.upgrading = True
                if connection.next_message(inbox, recv_nb) != b"2probe":
                    self.upgrading = False
                    return []
                connection.write(pong_probe_frame)
                self.queue.put(packet.Packet(packet.NOOP))  # ends the pending poll
                if connection.next_message(inbox, recv_nb) != b"5":
                    self.upgrading = False
                    return []
                self.upgrading = False
            else:
                self.connected = True
            self.upgraded = True
            # Packets queued before the switch (the OPEN packet, anything sent during the upgrade) go out first,
            # in order; a NOOP stays for a poll that may still be waiting for it.
            queued = []
            while not self.queue.empty():
                queued.append(self.queue.get_nowait())
                self.queue.task_done()
            self.attach(connection)
            for pkt in queued:
                if pkt is None:
                    connection.closing = True
                elif pkt.packet_type == packet.NOOP:
                    self.queue.put(pkt)
                else:
                    self.send(pkt)
            try:
                self._serve(connection, inbox, recv_nb)
            finally:
                self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
            return []

        def _serve(self, connection: Connection, inbox: list[bytes], recv_nb: Any) -> None:
            max_size = self.server.max_http_buffer_size
            while (message := connection.next_message(inbox, recv_nb)) is not None:
                if message == b"3":  # PONG, most of what an idle connection sends: no decoding, no log line
                    self.schedule_ping()
                    continue
                decoded, why = engineio_packet(message, max_size)
                if decoded is None:
                    log.warning("closing WebSocket from %s: %s", connection.peer, why)
                    return
                try:
                    self.receive(decoded)
                except exceptions.SocketIsClosedError:
                    return
                except exceptions.UnknownPacketError:
                    log.warning("closing WebSocket from %s: unknown Engine.IO packet type", connection.peer)
                    return
                except Exception:
                    log.exception("closing WebSocket from %s: error handling its packet", connection.peer)
                    return

    def engineio_packet(message: bytes, max_size: int) -> tuple[Any, str]:
        # Engine.IO would raise from deep inside (undecodable text) or close silently (too large): say why.
        if len(message) > max_size:
            return None, f"message of {len(message)} bytes exceeds the maximum of {max_size}"
        try:
            data = decode(message)
        except UnicodeDecodeError:
            return None, "not an Engine.IO packet: undecodable bytes"
        if isinstance(data, str) and data[0] not in ENGINEIO_TYPES:
            return None, f"not an Engine.IO packet: {data[:40]!r}"
        try:
            return packet.Packet(encoded_packet=data), ""
        except Exception:  # python-engineio raises whatever its decoder hits
            return None, f"not an Engine.IO packet: {data[:40]!r}"

    def service_task(self: Any) -> None:
        """python-engineio's sweep for ping timeouts, over the sessions that still need it: the polling ones.

        Its own walks every session, one wake-up per session per ping timeout (500/s at 10,000 WebSockets).
        """
        self.service_task_event = self.create_event()
        while not self.service_task_event.is_set():
            polling = []
            for s in list(self.sockets.values()):
                if s.closed:
                    self.sockets.pop(s.sid, None)
                elif getattr(s, "connection", None) is None and not s.closing:
                    polling.append(s)
            if not polling and self.service_task_event.wait(timeout=self.ping_timeout):
                return
            pause = self.ping_timeout / max(len(polling), 1)
            for s in polling:
                if not s.closing and not s.closed:
                    try:
                        s.check_ping_timeout()
                    except Exception:
                        self.logger.exception("service task exception")
                if self.service_task_event.wait(timeout=pause):
                    return

    gevent_uwsgi._async["websocket"] = Transport
    engineio.socket.Socket = BundleSocket
    engineio.Server._service_task = service_task
    # An Engine.IO app without python-socketio: its Socket.IO half has nothing to fix.
    with contextlib.suppress(ImportError):
        install_conformance()
    return True


def event_payload_ok(data: str) -> bool:
    """Whether a Socket.IO EVENT/BINARY_EVENT carries a non-empty array, before python-socketio indexes into it."""
    rest = data[1:]
    if data[:1] == "5":
        rest = rest.partition("-")[2]
    if rest[:1] == "/":
        rest = rest.partition(",")[2]
    rest = rest.lstrip("0123456789")
    return rest[:1] == "[" and rest[1:2] not in ("]", "")


def install_conformance() -> None:
    """Where python-engineio and python-socketio depart from the Engine.IO v4 / Socket.IO v5 specs, for any app."""
    from urllib.parse import parse_qs

    import engineio
    import socketio

    connect_timeout = float(os.environ.get("WEBSOCKET_CONNECT_TIMEOUT") or 45)
    handle_request = engineio.Server.handle_request

    def checked_request(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        # The spec: no transport, or another method than GET and POST (and CORS preflights), is a 400.
        method = environ.get("REQUEST_METHOD", "")
        if method not in ("GET", "POST", "OPTIONS") or "transport" not in parse_qs(environ.get("QUERY_STRING", "")):
            r = self._bad_request("Invalid transport" if method in ("GET", "POST") else f"Invalid method {method}")
            start_response(r["status"], r["headers"] + self._cors_headers(environ))
            return [r["response"]]
        return handle_request(self, environ, start_response)

    engineio.Server.handle_request = checked_request

    handle_eio_connect = socketio.Server._handle_eio_connect
    handle_connect = socketio.Server._handle_connect
    handle_eio_disconnect = socketio.Server._handle_eio_disconnect
    handle_message = socketio.Server._handle_eio_message
    waiting: dict[str, Any] = {}  # eio sid -> timer: sessions that have not joined a namespace yet

    def eio_connect(self: Any, eio_sid: str, environ: dict[str, Any]) -> Any:
        COUNTS.connects += 1
        # The spec: a session that sends no CONNECT within the connect timeout is closed (socket.io for Node: 45 s).
        timer = waiting[eio_sid] = gevent.get_hub().loop.timer(connect_timeout)
        timer.start(gevent.spawn, no_connect, self, eio_sid)
        return handle_eio_connect(self, eio_sid, environ)

    def no_connect(self: Any, eio_sid: str) -> None:
        if waiting.pop(eio_sid, None) is not None:
            log.warning("closing client %s: no Socket.IO CONNECT within %g s", eio_sid, connect_timeout)
            self.eio.disconnect(eio_sid)

    def connect(self: Any, eio_sid: str, namespace: str | None, data: Any) -> Any:
        timer = waiting.pop(eio_sid, None)
        if timer is not None:
            timer.close()
        namespace = namespace or "/"
        known = (
            namespace in self.handlers
            or namespace in self.namespace_handlers
            or self.namespaces == "*"
            or namespace in (self.namespaces or ())
        )
        if not known:
            # python-socketio answers "Unable to connect"; the spec "Invalid namespace".
            refusal = self.packet_class(
                socketio.packet.CONNECT_ERROR, data={"message": "Invalid namespace"}, namespace=namespace
            )
            self._send_packet(eio_sid, refusal)
            return None
        return handle_connect(self, eio_sid, namespace, data)

    def eio_disconnect(self: Any, eio_sid: str, *args: Any) -> Any:
        COUNTS.disconnects += 1
        timer = waiting.pop(eio_sid, None)
        if timer is not None:
            timer.close()
        return handle_eio_disconnect(self, eio_sid, *args)

    def message(self: Any, eio_sid: str, data: Any) -> None:
        # The spec: an invalid Socket.IO packet (unknown type, bad payload, bad ack id) closes the connection, and so
        # does leaving the main namespace (DISCONNECT "1", "41" on the wire) with no other namespace joined.
        COUNTS.received += 1
        try:
            if isinstance(data, str) and data[:1] in ("2", "5") and not event_payload_ok(data):
                raise ValueError(f"event without a non-empty array: {data[:40]!r}")
            handle_message(self, eio_sid, data)
        except ValueError as error:
            log.warning("closing client %s: bad Socket.IO packet: %s", eio_sid, error)
            self.eio.disconnect(eio_sid)
            return
        if data == "1" and not any(
            self.manager.sid_from_eio_sid(eio_sid, namespace) for namespace in list(self.manager.get_namespaces())
        ):
            self.eio.disconnect(eio_sid)

    socketio.Server._handle_eio_connect = eio_connect
    socketio.Server._handle_connect = connect
    socketio.Server._handle_eio_disconnect = eio_disconnect
    socketio.Server._handle_eio_message = message


INSTALLED = install()
