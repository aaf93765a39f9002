"""Helpers for fault tests: clients pinned to chosen workers, health waits, echo probes that run through a fault."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import yaml

from containers import PROJECT, sh, status
from testlib import WAIT, Client, http_get, sid_prefix

T = TypeVar("T")


def role_default(role: str, name: str) -> Any:
    """A role's default value, read from its defaults file (the tests of a default setting use this)."""
    return yaml.safe_load((PROJECT / "roles" / role / "defaults" / "main.yml").read_text())[name]


def report(
    record: Callable[[str, object], None], capsys: pytest.CaptureFixture[str], name: str, seconds: float, what: str
) -> None:
    """A measured figure: a property of the JUnit report (docs/operations.md quotes it) and a line of test output."""
    record(name, round(seconds, 2))
    with capsys.disabled():
        print(f"\n{what}: {seconds:.2f} s ({name})", file=sys.stderr)


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Poll until probe returns something truthy (exceptions count as not yet); fail naming what never happened."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except Exception as error:  # a service that is coming back raises all sorts of errors
            last_error = error
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error!r})")
        time.sleep(interval)


def unit_state(container: str, unit: str) -> tuple[str, str]:
    """(is-enabled, is-active) of a unit."""
    enabled = sh(container, "systemctl", "is-enabled", unit, check=False).stdout.strip()
    active = sh(container, "systemctl", "is-active", unit, check=False).stdout.strip()
    return enabled, active


def worker_pids(container: str) -> dict[int, int]:
    """uWSGI worker id -> pid of every worker that is up (pid 0 while one respawns). Polled while workers die, so
    without the health probes."""
    return {w["worker"]: w["pid"] for w in status(container, health=False)["workers"] if w["pid"] > 0}


def echo_ok(client: Client, timeout: float = WAIT) -> bool:
    """One echo with a fresh token; late replies of earlier echoes are skipped, not mistaken for this one.
    One echo at a time per client: two threads reading one reply queue would take each other's replies."""
    with client.__dict__.setdefault("echo_lock", threading.Lock()):
        token = f"echo-{uuid.uuid4()}"
        try:
            client.sio.send(token)
        except Exception:  # disconnected: no echo
            return False
        return _await_token(client, "message", token, timeout)


def broadcast_reaches(sender: Client, listener: Client, timeout: float = 2.0) -> bool:
    """One broadcast with a fresh token from sender; True when listener gets exactly that token in time."""
    token = f"bcast-{uuid.uuid4()}"
    try:
        sender.sio.emit("broadcast", token)
    except Exception:  # sender disconnected
        return False
    return _await_token(listener, "broadcast", token, timeout)


def _await_token(client: Client, event: str, token: str, timeout: float) -> bool:
    """True when `token` arrives as `event` within timeout; what arrives before it (late replies) is skipped."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            if client.next(event, timeout=left) == token:
                return True
        except Exception:  # queue.Empty: nothing more arrived in time
            return False
    return False


def wait_healthy(container: str, url: str, workers: int, timeout: float = 120) -> dict[int, int]:
    """Wait until nginx, Redis and the app are active, every worker is up and a fresh client echoes."""

    def ready() -> dict[int, int] | None:
        for unit in ("websocket", "nginx", "redis-server"):
            if unit_state(container, unit)[1] != "active":
                return None
        pids = worker_pids(container)
        if len(pids) != workers or http_get(f"{url}/healthz")[0] != 200:
            return None
        client = Client(url).connect()
        try:
            return pids if echo_ok(client) else None
        finally:
            client.close()

    return wait_for(ready, timeout, "a healthy service (units active, all workers up, a client echoes)")


@pytest.fixture
def healthy(container: str, url: str, workers: int) -> dict[int, int]:
    """Every test starts from a healthy service (whatever the previous one broke): worker id -> pid."""
    return wait_healthy(container, url, workers)


def status_rows(container: str) -> list[dict[str, Any]]:
    """Each worker's row of `websocket-status --json` (prefix, pid, health, message-queue subscription...)."""
    return status(container)["workers"]


def worker_prefixes(container: str) -> dict[str, int]:
    """Session id prefix -> uWSGI worker id (websocket-status lists each worker's prefix)."""
    return {row["sid_prefix"]: row["worker"] for row in status_rows(container)}


def first_fresh_echo(url: str, since: float, worker_prefix: str | None = None, timeout: float = 60) -> float:
    """Seconds from `since` (monotonic) until a new client connects through nginx and echoes; with worker_prefix,
    until one that landed on that worker does (nginx gives new sessions to the least busy worker)."""

    def fresh_echo() -> bool:
        client = Client(url, request_timeout=2).connect()
        try:
            return (worker_prefix in (None, sid_prefix(client.sio.eio.sid))) and echo_ok(client, timeout=2)
        finally:
            client.close()

    wait_for(fresh_echo, timeout, "a new client to connect and echo", interval=0.1)
    return time.monotonic() - since


@dataclass
class Pinned:
    """Clients through nginx that sit on known uWSGI workers."""

    by_worker: dict[int, list[Client]] = field(default_factory=dict)

    def all(self) -> list[Client]:
        return [client for clients in self.by_worker.values() for client in clients]


@contextmanager
def pinned_clients(container: str, url: str, per_worker: int = 2, max_clients: int = 64) -> Iterator[Pinned]:
    """per_worker connected clients on every uWSGI worker, through nginx. nginx gives each new session to the least
    busy worker, and a session id's prefix names the worker that holds it (websocket-status lists the prefixes)."""
    worker_of = worker_prefixes(container)
    pinned = Pinned({worker: [] for worker in worker_of.values()})
    with ExitStack() as stack:
        for _ in range(max_clients):
            if all(len(clients) >= per_worker for clients in pinned.by_worker.values()):
                break
            client = Client(url).connect()
            stack.callback(client.close)
            worker = worker_of.get(sid_prefix(client.sio.eio.sid))
            if worker is not None and len(pinned.by_worker[worker]) < per_worker:
                pinned.by_worker[worker].append(client)
        missing = {w: per_worker - len(c) for w, c in pinned.by_worker.items() if len(c) < per_worker}
        assert not missing, f"{max_clients} clients did not reach every worker: {missing} short"
        yield pinned


class EchoProbe:
    """Echoes with each client in a background thread until stopped; records every attempt with its time."""

    def __init__(self, clients: list[Client], interval: float = 0.2, timeout: float = 3.0) -> None:
        self.clients = clients
        self.interval = interval
        self.timeout = timeout
        self.results: dict[int, list[tuple[float, bool]]] = {i: [] for i in range(len(clients))}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(len(clients))]

    def _run(self, index: int) -> None:
        client = self.clients[index]
        while not self._stop.is_set():
            ok = echo_ok(client, self.timeout)
            self.results[index].append((time.monotonic(), ok))
            self._stop.wait(self.interval)

    def __enter__(self) -> EchoProbe:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + WAIT)

    def failures(self) -> dict[int, int]:
        return {i: sum(not ok for _, ok in attempts) for i, attempts in self.results.items()}

    def successes(self) -> dict[int, int]:
        return {i: sum(ok for _, ok in attempts) for i, attempts in self.results.items()}


def kill9(container: str, pid: int) -> None:
    sh(container, "kill", "-9", str(pid))


def restart_container(container: str) -> None:
    subprocess.run(["podman", "restart", container], capture_output=True, text=True, check=True, timeout=300)
    subprocess.run([str(PROJECT / "molecule" / "shared" / "wait-systemd.sh"), container], check=True, timeout=120)


CLOSED = "<closed>"  # the server ended the WebSocket
QUIET = "<quiet>"  # nothing more came within the wait


class RawSocket:
    """A bare WebSocket at the Engine.IO endpoint (websocket-client): frames go out exactly as given."""

    def __init__(self, url: str, query: str = "EIO=4&transport=websocket", timeout: float = WAIT) -> None:
        import websocket  # the controller's venv has it; only raw tests need it

        self.ws = websocket.create_connection(url.replace("http", "ws", 1) + f"/socket.io/?{query}", timeout=timeout)
        self.open_packet: dict[str, Any] = json.loads(self.ws.recv()[1:])  # "0{...}": Engine.IO open

    def send(self, *frames: str | bytes) -> None:
        import websocket

        for frame in frames:
            try:
                if isinstance(frame, bytes):
                    self.ws.send_binary(frame)
                else:
                    self.ws.send(frame)
            except (websocket.WebSocketConnectionClosedException, OSError):
                return  # closed by the server while we were still sending: replies() reports it

    def replies(self, quiet: float = 2.0) -> list[str | bytes]:
        """What the server sends (uWSGI's pings are answered and skipped), until it closes the WebSocket, sends
        Engine.IO's close packet "1", or stays quiet for `quiet` seconds."""
        import websocket

        got: list[str | bytes] = []
        self.ws.settimeout(quiet)
        try:
            while True:
                opcode, data = self.ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return [*got, CLOSED]
                got.append(data.decode() if opcode == websocket.ABNF.OPCODE_TEXT else data)
                if got[-1] == "1":
                    return got
        except websocket.WebSocketTimeoutException:
            return [*got, QUIET]
        except (websocket.WebSocketConnectionClosedException, OSError):
            return [*got, CLOSED]

    def close(self) -> None:
        self.ws.close()


def journal_cursor(container: str, unit: str) -> str | None:
    """Where the unit's journal ends now; lines after it are what a test caused."""
    out = sh(container, "journalctl", "-u", unit, "-n", "0", "--show-cursor", "--no-pager").stdout
    return out.rsplit("-- cursor: ", 1)[1].strip() if "-- cursor: " in out else None


def journal_after(container: str, unit: str, cursor: str | None, output: str = "cat") -> list[str]:
    """The unit's journal lines after the cursor: the messages (`-o cat`), or with output="json" one JSON object
    per entry with the journal's own fields (PRIORITY, _PID, SYSLOG_IDENTIFIER, MESSAGE)."""
    where = ["--after-cursor", cursor] if cursor else []
    return sh(container, "journalctl", "-u", unit, *where, "--no-pager", "-o", output).stdout.splitlines()


def track_disconnects(client: Client) -> list[float]:
    """Monotonic times of the client's disconnects, from now on."""
    times: list[float] = []
    client.sio.on("disconnect", lambda *_: times.append(time.monotonic()))
    return times


def n_restarts(container: str, unit: str) -> int:
    """How often systemd restarted the unit by its Restart= policy."""
    return int(sh(container, "systemctl", "show", "-p", "NRestarts", "--value", unit).stdout)


def processes(container: str, name: str) -> set[int]:
    return {int(pid) for pid in sh(container, "pgrep", "-x", name, check=False).stdout.split()}


def reconnected(clients: list[Client], times: int = 2, timeout: float = 60) -> None:
    """Wait until every client has connected `times` times in all and echoes again."""
    for index, client in enumerate(clients):
        wait_for(lambda c=client: len(c.connected_at) >= times, timeout, f"client {index} to reconnect")
        wait_for(lambda c=client: echo_ok(c), timeout, f"client {index} to echo after reconnecting")
