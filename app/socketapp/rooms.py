"""Client managers that know each client's rooms, so a disconnect costs O(rooms of that client).

python-socketio's BaseManager.basic_disconnect copies and scans every room of the namespace, and every client has a
room of its own: with N clients one disconnect is O(N) and N clients leaving together (a network blip, a load
balancer restart, the end of a benchmark) is O(N^2) of pure Python that blocks the worker's gevent loop. Profiled at
10,000 clients per worker: 91% of the worker's time in basic_disconnect while clients left.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis.sentinel
import socketio
from redis.backoff import NoBackoff
from redis.client import PubSub
from redis.retry import Retry
from socketio.redis_manager import parse_redis_sentinel_url


class RoomIndex:
    """Mixin for a python-socketio manager: keeps (namespace, sid) -> rooms beside the manager's room table."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sid_rooms: dict[tuple[str, str], set[Any]] = {}

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        self.sid_rooms.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        rooms = self.sid_rooms.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self.sid_rooms[(namespace, sid)]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [room for room in self.sid_rooms.get((namespace, sid), ()) if room is not None]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        for room in list(self.sid_rooms.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        # The rest of BaseManager.basic_disconnect: acknowledgement callbacks and pending (dis)connects.
        self.callbacks.pop(sid, None)  # type: ignore[attr-defined]
        for pending in (self.pending_connect, self.pending_disconnect):  # type: ignore[attr-defined]
            sids = pending.get(namespace)
            if sids and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]


class IndexedManager(RoomIndex, socketio.Manager):
    """In-process manager (one worker, no message queue)."""


# Dead-peer detection on the message queue's connections: TCP keepalive probes after 5 s idle, 3 of them 1 s apart,
# and at most 8 s of unacknowledged data. A partition (packets dropped, no reset) then breaks a blocked
# subscription or publish within about 8 s, not after the kernel's minutes.
LIVENESS_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "socket_keepalive_options": {
        socket.TCP_KEEPIDLE: 5,
        socket.TCP_KEEPINTVL: 1,
        socket.TCP_KEEPCNT: 3,
        socket.TCP_USER_TIMEOUT: 8000,
    },
}
# What redis-py reads as false in a URL's query (its to_bool).
_FALSE = {"0", "F", "FALSE", "N", "NO"}
# The URLs the manager takes: one Redis (redis://, rediss:// over TLS) or the Sentinels that know the primary
# (redis+sentinel://[user:password@]host1:port1,host2:port2,.../db/master_name, python-socketio's syntax;
# rediss+sentinel:// speaks TLS to the Sentinels and to Redis).
SCHEMES = ("redis", "rediss", "redis+sentinel", "rediss+sentinel")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
TLS_SCHEMES = ("rediss", "rediss+sentinel")


def redis_options(url: str) -> dict[str, Any]:
    """Connection options for the queue at `url`: the liveness options always (over TLS they apply to the TCP socket
    under it); over TLS (rediss://, rediss+sentinel://) at least TLS 1.2 and the server's certificate verified, name
    included, against the CA bundle the URL names (`ssl_ca_certs=`) or the system's. A URL that turns verification
    off is refused."""
    parts = urlsplit(url)
    if parts.scheme not in TLS_SCHEMES:
        return dict(LIVENESS_OPTIONS)
    query = parse_qs(parts.query)
    weak = [value for value in query.get("ssl_cert_reqs", []) if value.lower() != "required"]
    if weak:
        raise ValueError(
            f"the message queue's {parts.scheme}:// URL sets ssl_cert_reqs={weak[0]}: "
            "Redis's certificate must be verified (required)"
        )
    if any(value.upper() in _FALSE for value in query.get("ssl_check_hostname", [])):
        raise ValueError(
            f"the message queue's {parts.scheme}:// URL sets ssl_check_hostname off: "
            "Redis's certificate must name the host"
        )
    options = LIVENESS_OPTIONS | {"ssl_min_version": ssl.TLSVersion.TLSv1_2}
    if parts.scheme == "rediss+sentinel":
        # redis-py reads these from a rediss:// URL itself; a Sentinel URL's query is nobody's, so they are spelled
        # out here (for Redis and for the Sentinels alike).
        options |= {"ssl": True, "ssl_cert_reqs": "required", "ssl_check_hostname": True}
        if "ssl_ca_certs" in query:
            options["ssl_ca_certs"] = query["ssl_ca_certs"][-1]
    return options


# Asking a Sentinel: a dead one (its host down: no answer at all) costs a second, then the next is asked. Not redis-py's
# default of 10 retries with backoff per Sentinel, which held a reconnect for tens of seconds on the one Sentinel that
# went down with the primary's host.
SENTINEL_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
    "retry": Retry(NoBackoff(), 0),
}


def sentinel_url(url: str) -> tuple[list[tuple[str, int]], str | None, dict[str, Any]]:
    """(Sentinels, master name, login and db) of a redis+sentinel:// or rediss+sentinel:// URL, read by
    python-socketio's own parser (which knows the plain scheme only)."""
    parts = urlsplit(url)
    plain = parts._replace(scheme="redis+sentinel", query="").geturl()
    return parse_redis_sentinel_url(plain)


def primary_of(connection: Any) -> str | None:
    """host:port of a redis-py connection once connected (under Sentinel: the primary it was sent to)."""
    host, port = getattr(connection, "host", None), getattr(connection, "port", None)
    if not host:
        return None
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


# python-socketio doubles its wait between resubscriptions up to 60 s: a healed partition would go unnoticed that
# long. Here the wait stops growing at 5 s.
RETRY_CAP = 5


class QueueManager(socketio.RedisManager):
    """python-socketio's Redis manager that notices a dead queue, says whether this worker is subscribed and to which
    primary, and reaches the primary through Sentinels over TLS too (python-socketio's own manager speaks to Sentinels
    in plain text only). Write-only instances emit from outside the app: QueueManager(url, channel, write_only=True).
    """

    def __init__(self, url: str, channel: str, **kwargs: Any) -> None:
        if urlsplit(url).scheme not in SCHEMES:
            raise ValueError(
                "the message queue must be a redis://, rediss://, redis+sentinel:// or rediss+sentinel:// URL, "
                f"got {url.split(':', 1)[0]}://..."
            )
        options = redis_options(url) | kwargs.pop("redis_options", {})
        super().__init__(url, channel=channel, redis_options=options, **kwargs)
        # "connecting" until the first subscription, then "subscribed" or "down" (read by /healthz: no round trip).
        self.subscription = "connecting"
        # host:port of the Redis this worker is subscribed on (the primary, under Sentinel); None while not.
        self.primary: str | None = None
        self.sentinel: redis.sentinel.Sentinel | None = None

    def _client(self) -> redis.Redis:
        """A new redis-py client for the queue (it connects on first use): the one way both the publisher and the
        listener build theirs."""
        if urlsplit(self.redis_url).scheme not in SENTINEL_SCHEMES:
            return redis.Redis.from_url(self.redis_url, **self.redis_options)  # as python-socketio's manager does
        sentinels, master, login = sentinel_url(self.redis_url)
        options = self.redis_options | login
        if self.sentinel is None:
            # The Sentinels get the TLS options, not the login nor the db: any client may ask them where the primary
            # is (python-socketio's manager asks them the same way), and nothing else. One Sentinel object for every
            # client and reconnect: redis-py asks the one that answered last first.
            tls = {key: value for key, value in options.items() if key.startswith("ssl")}
            self.sentinel = redis.sentinel.Sentinel(sentinels, sentinel_kwargs=tls | SENTINEL_OPTIONS, **options)
        return self.sentinel.master_for(master or self.channel)

    def _redis_connect(self) -> None:
        # The publisher's (re)connect: python-socketio's _publish calls it after a failed publish, from the greenlet
        # of whichever client emitted. It touches the publisher's client only; the listener has its own (below).
        self.redis = self._client()
        self.connected = True

    def _redis_listen_with_retries(self) -> Iterator[dict[str, Any]]:
        # python-socketio's loop (redis_manager.py), with the state recorded and the wait capped, on a client and a
        # subscription of the listener's own. Upstream's loop shares self.redis and self.pubsub with _publish, and a
        # publisher's reconnect cut the subscription: the client it replaced, freed, closed its connection pool, the
        # subscribed connection included (redis-py's Redis.__del__), so the listener resubscribed a second or more
        # later and missed what was published meanwhile; and while this greenlet waited on the network in
        # subscribe(), the swap left it reading a pubsub that never subscribed.
        retry_sleep = 1
        while True:
            client: redis.Redis | None = None
            pubsub: PubSub | None = None
            try:
                client = self._client()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self.subscription = "subscribed"
                self.primary = primary_of(pubsub.connection)
                retry_sleep = 1
                yield from pubsub.listen()
                error = "the subscription ended"
            except Exception as exc:  # what python-socketio catches: any failure means resubscribe
                error = str(exc)
            finally:
                # Also when the generator is closed: the subscription goes with its connection.
                if pubsub is not None:
                    pubsub.close()
                if client is not None:
                    client.close()
            self.subscription = "down"
            self.primary = None
            self._get_logger().error(
                f"Cannot receive from redis... retrying in {retry_sleep} secs", extra={"redis_exception": error}
            )
            time.sleep(retry_sleep)
            retry_sleep = min(retry_sleep * 2, RETRY_CAP)

    def _listen(self) -> Iterator[bytes]:
        # python-socketio's, minus its closing self.pubsub.unsubscribe(): the listener's subscription is its own and
        # ends with its generator (above).
        channel = self.channel.encode("utf-8")
        for message in self._redis_listen_with_retries():
            if message["channel"] == channel and message["type"] == "message" and "data" in message:
                yield message["data"]


class IndexedRedisManager(RoomIndex, QueueManager):
    """The app's Redis message queue manager, with the room index."""


def client_manager(url: str, channel: str) -> socketio.Manager:
    """The manager Flask-SocketIO would build for `url` (none or Redis), with the room index."""
    if not url:
        return IndexedManager()
    return IndexedRedisManager(url, channel=channel)
