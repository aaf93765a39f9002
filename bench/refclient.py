"""Capacity measured by a client this project did not write: python-socketio's own AsyncClient (aiohttp).

bench/loadgen.py is ours, so a bug in it could flatter the server. This tool holds N connections with the
reference Socket.IO client instead: WebSocket transport only (no polling fallback), ramped at --rate, held for
--hold seconds, then every still-connected client sends one `message` and must get its echo back.

Clients spread over loopback source addresses like loadgen.py (nginx's per-address sticky hash spreads them over
the workers). Prints progress on stderr and one JSON object on stdout.
Usage: python refclient.py --url http://127.0.0.1:80 --clients 10000 --rate 300 --hold 60 --processes 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from importlib.metadata import version
from typing import Any

import aiohttp
import socketio

from loadgen import paced, run_split, sources


class Tally:
    def __init__(self) -> None:
        self.connected = 0
        self.failed = 0
        self.dropped = 0
        self.not_websocket = 0
        self.echoed = 0
        self.errors: Counter[str] = Counter()
        self.closing = False  # our own disconnects at the end are not drops


async def open_client(url: str, session: aiohttp.ClientSession, tally: Tally, timeout: float) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False, http_session=session, handle_sigint=False)
    holding = False

    @client.event
    async def disconnect(reason: Any = None) -> None:
        # Counted only once the hold started: a refused or closed connect is a failure, not a drop.
        if holding and not tally.closing:
            tally.dropped += 1
            tally.errors[f"disconnect: {reason}"] += 1

    try:
        await client.connect(url, transports=["websocket"], wait_timeout=timeout)
    except Exception as exc:  # every refusal counts as a failed client, with its reason
        tally.failed += 1
        tally.errors[f"{type(exc).__name__}: {exc}"[:100]] += 1
        return client
    if client.transport() != "websocket":
        tally.not_websocket += 1
    tally.connected += 1
    holding = True
    return client


async def echo(client: socketio.AsyncClient, tally: Tally, timeout: float) -> None:
    """One `message` round trip: proves the held connection still carries events both ways."""
    answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.on("message", lambda data: answer.done() or answer.set_result(data))
    token = f"{id(client)}"
    try:
        await client.send(token)
        if await asyncio.wait_for(answer, timeout) == token:
            tally.echoed += 1
    except Exception as exc:
        tally.errors[f"echo {type(exc).__name__}"] += 1


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tally = Tally()
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0), limit=0))
        for source in sources(args.sources)
    ]
    tasks = []
    async for i in paced(args.clients, args.rate):
        session = sessions[(i + args.index) % len(sessions)]
        tasks.append(asyncio.create_task(open_client(args.url, session, tally, args.timeout)))
        if i % 1000 == 999:
            progress(args, f"opening {i + 1}/{args.clients} (connected {tally.connected}, failed {tally.failed})")
    clients = await asyncio.gather(*tasks)
    progress(args, f"holding {tally.connected} for {args.hold}s (failed {tally.failed})")
    await asyncio.sleep(args.hold)
    alive = [c for c in clients if c.connected]
    # Echo at the ramp rate, not all at once: this checks liveness, not burst throughput.
    batch = max(1, int(args.rate))
    for start in range(0, len(alive), batch):
        await asyncio.gather(*(echo(c, tally, args.timeout) for c in alive[start : start + batch]))
    held = sum(1 for c in clients if c.connected)
    tally.closing = True
    for start in range(0, len(alive), batch):
        await asyncio.gather(*(c.disconnect() for c in alive[start : start + batch]), return_exceptions=True)
    for session in sessions:
        await session.close()
    return {**vars(tally), "errors": dict(tally.errors), "held": held}


def progress(args: argparse.Namespace, text: str) -> None:
    print(f"[refclient p{args.index}] {text}", file=sys.stderr, flush=True)


def run_process(args: argparse.Namespace) -> dict[str, Any]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return asyncio.run(run(args))


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    for part in parts:
        errors.update(part["errors"])
    keys = ("connected", "failed", "dropped", "not_websocket", "echoed", "held")
    return {**{key: sum(p[key] for p in parts) for key in keys}, "errors": dict(errors)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:80")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--sources", type=int, default=16, help="loopback source addresses 127.0.0.2...")
    parser.add_argument("--rate", type=float, default=300, help="new connections per second (total)")
    parser.add_argument("--hold", type=float, default=60)
    parser.add_argument("--timeout", type=float, default=15)
    args = parser.parse_args(argv)
    started = time.monotonic()
    parts = run_split(args, run_process)
    result = {"scenario": "refclient", "client": f"python-socketio {version('python-socketio')} AsyncClient"}
    result |= {"clients": args.clients, "hold": args.hold, **merge(parts)}
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
