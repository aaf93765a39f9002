"""Socket.IO load generator: many Engine.IO v4 / Socket.IO v5 clients over WebSocket per process (asyncio).

Scenarios (each prints one JSON object on stdout; progress goes to stderr):
  capacity  ramp to N connections, hold them, report connected / failed / dropped
  echo      C clients each sending `message` at a fixed rate; round-trip percentiles and achieved rate
  broadcast C listeners, one sender emitting `broadcast`; delivery latency percentiles and deliveries/s

Clients come from several loopback source addresses (--sources), as real clients from many addresses would (with
nginx balancing by address, that is what spreads them over the workers; with balancing by session it does not
matter, and --sources 1 shows it).
Usage: python loadgen.py SCENARIO --url ws://127.0.0.1:80 [options]; --processes splits clients over processes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from wsclient import WebSocket, connect

try:
    import uvloop
except ImportError:  # the standard loop works, at a higher CPU cost per message
    uvloop = None

PATH = "/socket.io/?EIO=4&transport=websocket"
MIN_SEND_TICK = 0.001  # seconds: at high rates the echo scenario sends in batches at most this far apart


@dataclass
class Stats:
    connected: int = 0
    failed: int = 0
    dropped: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds
    received: int = 0
    sent: int = 0

    def error(self, exc: BaseException) -> None:
        key = type(exc).__name__ + (f": {exc}"[:80] if str(exc) else "")
        self.errors[key] = self.errors.get(key, 0) + 1


class SocketIOClient:
    """Speaks just enough Engine.IO/Socket.IO: open, namespace connect, pong, events."""

    def __init__(self, url: str, source: str, stats: Stats, on_event: Any = None) -> None:
        parsed = urlsplit(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.source, self.stats, self.on_event = source, stats, on_event
        self.ws: WebSocket | None = None
        self.opening: asyncio.Queue[str] = asyncio.Queue()
        self.closing = False
        self.is_open = False

    async def open(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                self.ws = await connect(self.host, self.port, PATH, self.source, self.on_text, self.on_close)
                opening = await self.opening.get()
                if not opening.startswith("0"):
                    raise ConnectionError(f"unexpected open packet {opening!r}")
                self.ws.send_text("40")
                while not (reply := await self.opening.get()).startswith("40"):
                    if reply.startswith("44"):
                        raise ConnectionError(f"namespace refused: {reply!r}")
        except Exception as exc:  # any failure to open counts as a failed client, with its reason
            self.stats.failed += 1
            self.stats.error(exc)
            self.closing = True
            if self.ws is not None:
                self.ws.close()
            return False
        self.is_open = True
        self.stats.connected += 1
        return True

    def on_text(self, text: str) -> None:
        """Answer pings and dispatch events; frames before the namespace is joined go to open()."""
        if not self.is_open:
            self.opening.put_nowait(text)
        elif text == "2":
            self.ws.send_text("3")  # type: ignore[union-attr]
        elif text.startswith("42") and self.on_event is not None:
            name, *args = json.loads(text[2:])
            self.on_event(name, args)
        elif text.startswith("41"):  # the server closed the namespace
            self.ws.close()  # type: ignore[union-attr]

    def on_close(self) -> None:
        if self.is_open and not self.closing:
            self.stats.dropped += 1
            self.stats.errors["closed by the server"] = self.stats.errors.get("closed by the server", 0) + 1
        elif not self.is_open:
            self.opening.put_nowait("")  # wakes an open() still waiting: closed during the handshake
        self.is_open = False

    def emit(self, event: str, data: Any) -> bool:
        """Send an event; False once the connection is closed."""
        if not self.is_open or self.ws is None:
            return False
        self.ws.send_text("42" + json.dumps([event, data]))
        self.stats.sent += 1
        return True

    def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            self.ws.close()


def sources(count: int) -> list[str]:
    # 0: the system's choice (127.0.0.1 for a loopback target), which a host's port forwarding also accepts.
    return [f"127.0.0.{2 + i}" for i in range(count)] or [""]


async def paced(count: int, rate: float) -> AsyncIterator[int]:
    """Yield 0..count-1 at about `rate` per second (the caller starts one connection per step)."""
    started = time.monotonic()
    for i in range(count):
        yield i
        delay = started + (i + 1) / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


async def open_many(args: argparse.Namespace, stats: Stats, count: int, on_event: Any = None) -> list[SocketIOClient]:
    """Open `count` clients at about args.rate per second (this process's share); returns the connected ones."""
    pool = sources(args.sources)
    clients: list[SocketIOClient] = []
    tasks: list[asyncio.Task[bool]] = []
    async for i in paced(count, args.rate):
        client = SocketIOClient(args.url, pool[(i + args.offset) % len(pool)], stats, on_event)
        clients.append(client)
        tasks.append(asyncio.create_task(client.open(args.timeout)))
        if i % 1000 == 999:
            progress(args, f"opening {i + 1}/{count} (connected {stats.connected}, failed {stats.failed})")
    results = await asyncio.gather(*tasks)
    return [client for client, ok in zip(clients, results, strict=True) if ok]


async def close_all(clients: list[SocketIOClient]) -> None:
    for client in clients:
        client.close()
    await asyncio.sleep(1)  # let the close frames go out before the loop ends


def progress(args: argparse.Namespace, text: str) -> None:
    print(f"[{args.scenario} p{args.index}] {text}", file=sys.stderr, flush=True)


async def capacity(args: argparse.Namespace, stats: Stats) -> dict[str, Any]:
    alive = await open_many(args, stats, args.clients)
    progress(args, f"holding {len(alive)} connections for {args.hold}s")
    deadline = time.monotonic() + args.hold
    while time.monotonic() < deadline:
        await asyncio.sleep(min(10, max(0, deadline - time.monotonic())))
        open_now = sum(1 for c in alive if c.is_open)
        progress(args, f"{open_now} open, {stats.dropped} dropped")
    held = sum(1 for c in alive if c.is_open)
    await close_all(alive)
    return {"held": held}


async def echo(args: argparse.Namespace, stats: Stats) -> dict[str, Any]:
    pending: dict[str, float] = {}

    def on_event(name: str, payload: list[Any]) -> None:
        if name == "message" and payload and payload[0] in pending:
            stats.latencies.append(time.monotonic() - pending.pop(payload[0]))
            stats.received += 1

    alive = await open_many(args, stats, args.clients, on_event)
    stop = time.monotonic() + args.duration
    warmup = time.monotonic() + min(2.0, args.duration / 4)

    async def pace() -> None:
        # One coroutine sends for every client of this process, client i at i/N of each period: the offered rate is
        # exact, and there is no timer per message (the generator's CPU is taken from the server it measures). At
        # high rates the sends due within a millisecond go out together.
        count = len(alive)
        interval = 1 / (args.per_client_rate * max(1, count))
        start, sent = time.monotonic(), 0
        while count and (now := time.monotonic()) < stop:
            due = int((now - start) / interval) + 1
            while sent < due:
                index, seq = sent % count, sent // count
                token = f"{args.index}-{index}-{seq}"
                if now >= warmup:
                    pending[token] = now
                if not alive[index].emit("message", token):
                    pending.pop(token, None)  # closed: its drop is counted by the client
                sent += 1
            await asyncio.sleep(max(start + sent * interval - time.monotonic(), MIN_SEND_TICK))

    await pace()
    await asyncio.sleep(1.0)  # let the last replies arrive
    measured = stop - warmup
    lost = len(pending)
    await close_all(alive)
    return {"measured_seconds": measured, "unanswered": lost}


async def broadcast(args: argparse.Namespace, stats: Stats) -> dict[str, Any]:
    def on_event(name: str, payload: list[Any]) -> None:
        if name == "broadcast" and payload and isinstance(payload[0], dict):
            stats.latencies.append(time.time() - payload[0]["t"])
            stats.received += 1

    alive = await open_many(args, stats, args.clients, on_event)
    progress(args, f"{len(alive)} listeners connected")
    if args.index == 0 and alive:
        await asyncio.sleep(args.settle)
        sender = alive[0]
        for seq in range(args.messages):
            sender.emit("broadcast", {"t": time.time(), "seq": seq})
            await asyncio.sleep(args.interval)
    else:
        await asyncio.sleep(args.settle + args.messages * args.interval)
    await asyncio.sleep(args.drain)
    await close_all(alive)
    return {}


SCENARIOS = {"capacity": capacity, "echo": echo, "broadcast": broadcast}


def run_process(args: argparse.Namespace) -> dict[str, Any]:
    # One descriptor per client: lift the soft limit to the hard one.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # A bounded run: a collection pause in the generator would be measured as server latency.
    gc.disable()
    stats = Stats()
    # uvloop where installed: the event loop's own overhead per message is CPU taken from the server measured.
    run = uvloop.run if uvloop is not None else asyncio.run
    extra = run(SCENARIOS[args.scenario](args, stats))
    return {**extra, **stats.__dict__}


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [x for p in parts for x in p["latencies"]]
    errors: dict[str, int] = {}
    for part in parts:
        for key, count in part["errors"].items():
            errors[key] = errors.get(key, 0) + count
    merged: dict[str, Any] = {
        key: sum(p.get(key, 0) for p in parts)
        for key in ("connected", "failed", "dropped", "received", "sent", "held", "unanswered")
    }
    merged["errors"] = errors
    merged["latency_ms"] = {
        f"p{q}": (round(v * 1000, 2) if (v := percentile(latencies, q)) is not None else None) for q in (50, 95, 99)
    }
    merged["latency_ms"]["mean"] = round(statistics.fmean(latencies) * 1000, 2) if latencies else None
    seconds = [p["measured_seconds"] for p in parts if "measured_seconds" in p]
    if seconds:
        merged["rate_per_second"] = round(merged["received"] / max(min(seconds), 0.001), 1)
    return merged


def run_split(args: argparse.Namespace, run: Callable[[argparse.Namespace], dict[str, Any]]) -> list[dict[str, Any]]:
    """Run `run` in args.processes processes, each with its share of the clients and of the connect rate."""
    jobs = []
    for index in range(args.processes):
        job = argparse.Namespace(**vars(args))
        job.index = job.offset = index
        job.clients = args.clients // args.processes + (1 if index < args.clients % args.processes else 0)
        job.rate = args.rate / args.processes
        jobs.append(job)
    if args.processes == 1:
        return [run(jobs[0])]
    with multiprocessing.get_context("fork").Pool(args.processes) as pool:
        return pool.map(run, jobs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--url", default="ws://127.0.0.1:80")
    parser.add_argument("--clients", type=int, default=100, help="total clients over all processes")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--sources", type=int, default=16, help="source addresses 127.0.0.2... (0: default)")
    parser.add_argument("--rate", type=float, default=1000, help="new connections per second (total)")
    parser.add_argument("--timeout", type=float, default=15)
    parser.add_argument("--hold", type=float, default=60, help="capacity: seconds to hold the connections")
    parser.add_argument("--duration", type=float, default=10, help="echo: seconds of sending")
    parser.add_argument("--per-client-rate", type=float, default=1, help="echo: messages per second per client")
    parser.add_argument("--messages", type=int, default=10, help="broadcast: messages the sender emits")
    parser.add_argument("--interval", type=float, default=1, help="broadcast: seconds between messages")
    parser.add_argument("--settle", type=float, default=2, help="broadcast: seconds before the first message")
    parser.add_argument("--drain", type=float, default=3, help="broadcast: seconds to wait for late deliveries")
    args = parser.parse_args(argv)
    started = time.monotonic()
    parts = run_split(args, run_process)
    result = {"scenario": args.scenario, "clients": args.clients, "pid": os.getpid(), **merge(parts)}
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    if args.scenario == "echo":
        result["per_client_rate"] = args.per_client_rate
        result["offered_rate"] = args.per_client_rate * args.clients
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
