"""Client managers that know each client's rooms, so a disconnect costs O(rooms of that client).

python-socketio's BaseManager.basic_disconnect copies and scans every room of the namespace, and every client has a
room of its own: with N clients one disconnect is O(N) and N clients leaving together (a network blip, a load
balancer restart, the end of a benchmark) is O(N^2) of pure Python that blocks the worker's gevent loop. Profiled at
10,000 clients per worker: 91% of the worker's time in basic_disconnect while clients left.
"""

from __future__ import annotations

import socket
import ssl
import threading
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


def address(host: str, port: int | str) -> str:
    """host:port, an IPv6 host in brackets: how the manager names a Redis."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def primary_of(connection: Any) -> str | None:
    """host:port of a redis-py connection once connected (under Sentinel: the primary it was sent to)."""
    host, port = getattr(connection, "host", None), getattr(connection, "port", None)
    if not host:
        return None
    return address(str(host), port)


# python-socketio doubles its wait between resubscriptions up to 60 s: a healed partition would go unnoticed that
# long. Here the wait stops growing at 5 s.
RETRY_CAP = 5
# Where every Sentinel announces a failover it completed: "<master-name> <old-ip> <old-port> <new-ip> <new-port>".
SWITCH_CHANNEL = "+switch-master"
# A Sentinel watcher's wait before it subscribes again after its Sentinel went away.
WATCH_RETRY = 1
# Under Sentinel, a publish gives up on a primary that does not answer within these, not redis-py's 5 s each: one
# client's events wait on its publish, and a primary that died silently held them up to 10 s (a read on the dead
# connection, then a connect to the address the Sentinels still named), past the announcement of the new primary,
# which cannot interrupt a connect in progress. A PUBLISH takes well under a millisecond on a live Redis.
PUBLISH_OPTIONS: dict[str, Any] = {"socket_timeout": 2, "socket_connect_timeout": 1}


class QueueManager(socketio.RedisManager):
    """python-socketio's Redis manager that notices a dead queue, says whether this worker is subscribed and to which
    primary, and reaches the primary through Sentinels over TLS too (python-socketio's own manager speaks to Sentinels
    in plain text only), moving to a new primary as soon as a Sentinel announces it. Write-only instances emit from
    outside the app: QueueManager(url, channel, write_only=True).
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
        # The listener's current subscription, for a Sentinel watcher to break when the primary moves.
        self._listening: PubSub | None = None
        # The primary the Sentinels announced last, until the listener subscribed after it: every Sentinel announces
        # the same switch, and only the first announcement is acted on.
        self._switching_to: str | None = None
        # Set by a switch acted on: the listener then resubscribes at once, not after its retry wait.
        self._switched = threading.Event()
        self._switch_lock = threading.Lock()

    def _client(self, **primary: Any) -> redis.Redis:
        """A new redis-py client for the queue (it connects on first use): the one way both the publisher and the
        listener build theirs; under Sentinel, `primary` adds connection options for the primary's connections."""
        if urlsplit(self.redis_url).scheme not in SENTINEL_SCHEMES:
            return redis.Redis.from_url(self.redis_url, **self.redis_options)  # as python-socketio's manager does
        sentinels, master, login = sentinel_url(self.redis_url)
        options = self.redis_options | login
        if self.sentinel is None:
            # One Sentinel object for every client and reconnect: redis-py asks the one that answered last first.
            self.sentinel = redis.sentinel.Sentinel(sentinels, sentinel_kwargs=self._sentinel_options(), **options)
        return self.sentinel.master_for(master or self.channel, **primary)

    def _sentinel_options(self) -> dict[str, Any]:
        # The Sentinels get the TLS options, not the login nor the db: any client may ask them where the primary is
        # (python-socketio's manager asks them the same way), and nothing else.
        tls = {key: value for key, value in self.redis_options.items() if key.startswith("ssl")}
        return tls | SENTINEL_OPTIONS

    def initialize(self) -> None:
        # python-socketio's (it starts the listener unless write-only), and under Sentinel a watcher per Sentinel:
        # the Sentinel on a dead primary's host dies with it, so watching one is not enough.
        super().initialize()
        if self.write_only or urlsplit(self.redis_url).scheme not in SENTINEL_SCHEMES:
            return
        for host, port in sentinel_url(self.redis_url)[0]:
            self.server.start_background_task(self._watch, host, port)

    def _watch(self, host: str, port: int) -> None:
        """Follow one Sentinel's failover announcements for as long as the worker runs. A dead primary that sends
        nothing leaves the subscription on it and a publish waiting on it until TCP keepalive gives up (about 8 s);
        the Sentinels announce the new primary before that. The Sentinels' default user (no password, as when asked
        where the primary is) must be allowed to subscribe to the channel."""
        master = sentinel_url(self.redis_url)[1] or self.channel
        # Keepalive too: a Sentinel that went down with its host sends nothing, and its watcher would wait forever.
        keepalive = {key: LIVENESS_OPTIONS[key] for key in ("socket_keepalive", "socket_keepalive_options")}
        options = self._sentinel_options() | keepalive
        watching = True  # Log the first failure of a run of them only: a Sentinel stays down as long as its host.
        while True:
            client = redis.Redis(host, port, **options)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(SWITCH_CHANNEL)
                watching = True
                for message in pubsub.listen():
                    words = message["data"].decode().split() if message["type"] == "message" else []
                    if len(words) == 5 and words[0] == master:
                        self._switch(address(words[3], words[4]), (host, port))
                error = "the subscription ended"
            except Exception as exc:  # any failure means subscribe again
                error = str(exc)
            finally:
                pubsub.close()
                client.close()
            if watching:
                self._get_logger().error(
                    f"Cannot watch Sentinel {address(host, port)} for failovers... retrying every {WATCH_RETRY} secs",
                    extra={"redis_exception": error},
                )
                watching = False
            time.sleep(WATCH_RETRY)

    def _switch(self, primary: str, announcer: tuple[str, int]) -> None:
        """The Sentinel at `announcer` made `primary` the primary: subscribe and publish there now."""
        with self._switch_lock:
            # Where the listener is subscribed already, or an announcement acted on already (from another Sentinel).
            if primary in (self.primary, self._switching_to):
                return
            self._get_logger().error(
                f"Redis primary switched to {primary} (from {self.primary or 'no subscription'}): resubscribing"
            )
            self._switching_to = primary
            self._switched.set()
            # Asked first from now on: it is alive and names the new primary. The one that answered last (redis-py's
            # choice) may be the one that went down with the old primary, and costs a timeout per question.
            sentinels = self.sentinel.sentinels if self.sentinel is not None else []
            for number, client in enumerate(sentinels):
                kwargs = client.connection_pool.connection_kwargs
                if (kwargs.get("host"), kwargs.get("port")) == announcer:
                    sentinels[0], sentinels[number] = client, sentinels[0]  # a swap, as redis-py does: no re-sort
                    break
            # The listener's connection to the old primary: reading it fails now (Connection.disconnect shuts the
            # socket down; under gevent closing it raises in the greenlet reading it), and the listener asks the
            # Sentinels again.
            listening = self._listening
            if listening is not None and listening.connection is not None:
                listening.connection.disconnect()
            # A publish waiting on the old primary fails now and python-socketio's _publish reconnects (through the
            # Sentinels) and publishes again; idle connections reconnect on their next use.
            if self.redis is not None:
                self.redis.connection_pool.disconnect()

    def _redis_connect(self) -> None:
        # The publisher's (re)connect: python-socketio's _publish calls it after a failed publish, from the greenlet
        # of whichever client emitted. It touches the publisher's client only; the listener has its own (below).
        self.redis = self._client(**PUBLISH_OPTIONS)
        self.connected = True

    def _redis_listen_with_retries(self) -> Iterator[dict[str, Any]]:
        # python-socketio's loop (redis_manager.py), with the state recorded and the wait capped, on a client and a
        # subscription of the listener's own. Upstream's loop shares self.redis and self.pubsub with _publish, and a
        # publisher's reconnect cut the subscription: the client it replaced, freed, closed its connection pool, the
        # subscribed connection included (redis-py's Redis.__del__), so the listener resubscribed a second or more
        # later and missed what was published meanwhile; and while this greenlet waited on the network in
        # subscribe(), the swap left it reading a pubsub that never subscribed.
        # Under Sentinel a watcher may break the subscription when the primary moves (_switch): the listener then
        # resubscribes at once, on the primary the Sentinels name now.
        retry_sleep = 1
        while True:
            client: redis.Redis | None = None
            pubsub: PubSub | None = None
            self._switched.clear()  # set again by a switch during this attempt
            try:
                client = self._client()
                pubsub = self._listening = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                with self._switch_lock:
                    primary = primary_of(pubsub.connection)
                    if self._switched.is_set() and self._switching_to not in (None, primary):
                        # The Sentinels named the old primary just before they announced the new one.
                        raise ConnectionError(f"subscribed on {primary}, the Sentinels switched to the primary since")
                    self.subscription = "subscribed"
                    self.primary = primary
                    self._switching_to = None
                retry_sleep = 1
                yield from pubsub.listen()
                error = "the subscription ended"
            except Exception as exc:  # what python-socketio catches: any failure means resubscribe
                error = str(exc)
            finally:
                # Also when the generator is closed: the subscription goes with its connection.
                self._listening = None
                if pubsub is not None:
                    pubsub.close()
                if client is not None:
                    client.close()
            self.subscription = "down"
            self.primary = None
            if self._switched.is_set():
                continue  # broken by a switch (logged then): the Sentinels name the new primary now
            self._get_logger().error(
                f"Cannot receive from redis... retrying in {retry_sleep} secs", extra={"redis_exception": error}
            )
            self._switched.wait(retry_sleep)  # a switch meanwhile ends the wait: the new primary is there
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
