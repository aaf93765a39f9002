"""Scale-out: every worker of every app host shares broadcasts through Redis; rolling restarts lose nobody."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import resource
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from typing import Any

import pytest
import socketio

from containers import PROJECT, playbook, sh, status
from testlib import WAIT, Client, clients, http_get, sid_prefix

LB_URL = "http://127.0.0.1:18081"
# Every upstream worker socket, published on loopback by molecule.yml: (host, worker) -> URL.
WORKERS = {
    ("cluster-app1", 1): "http://127.0.0.1:25001",
    ("cluster-app1", 2): "http://127.0.0.1:25002",
    ("cluster-app2", 1): "http://127.0.0.1:26001",
    ("cluster-app2", 2): "http://127.0.0.1:26002",
}

APP_ENV = 'set -a; . /etc/websocket/websocket.env; set +a; exec /opt/websocket/venv/bin/python -c "$0"'


def app_python(container: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run Python in an app host's virtualenv with the app's environment (message queue URL and password)."""
    return sh(container, "sh", "-c", APP_ENV, code, check=False)


@pytest.fixture
def on_every_worker():
    with clients(LB_URL) as (through_lb,):
        opened = {key: Client(url).connect() for key, url in WORKERS.items()}
        try:
            yield opened, through_lb
        finally:
            for client in opened.values():
                client.close()


def worker_status() -> dict[tuple[str, int], dict]:
    """Every worker's row of websocket-status --json: (host, worker) -> row."""
    rows = {}
    for host in ("cluster-app1", "cluster-app2"):
        for row in status(host)["workers"]:
            rows[(host, row["worker"])] = row
    return rows


def test_nginx_lists_every_worker_of_every_app_host():
    site = sh("cluster-lb", "cat", "/etc/nginx/conf.d/websocket.conf").stdout
    servers = re.findall(r"^\s*server (\S+):(\d+) ", site, re.MULTILINE)
    assert sorted(port for _, port in servers) == ["15001", "15001", "15002", "15002"]
    assert len({address for address, _ in servers}) == 2  # two app hosts, private addresses
    assert "least_conn;" in site
    # Every worker's session id prefix routes to that worker's own upstream.
    prefixes = sorted(row["sid_prefix"] for row in worker_status().values())
    assert sorted(re.findall(r'"~\^(\w+)\\\." websocket_worker_\d+;', site)) == prefixes
    assert len(set(prefixes)) == len(WORKERS)


def test_session_ids_name_the_worker_that_made_them():
    status = worker_status()
    for key, url in WORKERS.items():
        client = Client(url).connect()
        try:
            assert client.sio.eio.sid.startswith(status[key]["sid_prefix"] + "."), key
        finally:
            client.close()


@pytest.mark.parametrize(
    "sid",
    ["00000000.forged", "no-prefix-at-all", "../../etc/passwd"],
)
def test_a_session_id_nginx_does_not_know_gets_400_from_nginx(sid):
    status, body = http_get(f"{LB_URL}/socket.io/?EIO=4&transport=polling&sid={sid}")
    assert status == 400
    assert "<center>nginx</center>" in body  # refused by nginx: no worker saw it


def test_websocket_clients_from_one_address_spread_evenly_over_every_worker(record_testsuite_property):
    # The benchmark's generator: 2,000 WebSocket-only clients, all from one source address, held while counted.
    command = [
        sys.executable,
        str(PROJECT / "bench" / "loadgen.py"),
        "capacity",
        "--url",
        "ws://127.0.0.1:18081",
        "--clients",
        "2000",
        "--sources",
        "0",  # one address: the system's (podman's port forwarding takes 127.0.0.1 only)
        "--rate",
        "300",
        "--hold",
        "20",
        "--processes",
        "1",
    ]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            counts = {key: row["connections"] for key, row in worker_status().items()}
            if sum(counts.values()) >= 2000 or time.monotonic() > deadline:
                break
            time.sleep(1)
        out, _ = run.communicate(timeout=120)
    finally:
        run.kill()
    result = json.loads(out.strip().splitlines()[-1])
    per_worker = {f"{host}/{worker}": count for (host, worker), count in counts.items()}
    record_testsuite_property("connections_per_worker", json.dumps(per_worker))
    assert (result["held"], result["failed"], result["dropped"]) == (2000, 0, 0), result
    mean = sum(counts.values()) / len(counts)
    assert all(abs(count - mean) <= 0.15 * mean for count in counts.values()), counts


def nginx_statuses_since(line: int) -> Counter[str]:
    """HTTP statuses of the load balancer's /socket.io/ requests logged after `line`."""
    log = sh("cluster-lb", "tail", "-n", f"+{line + 1}", "/var/log/nginx/access.log").stdout
    return Counter(m.group(1) for m in re.finditer(r'"[A-Z]+ /socket\.io/[^"]*" (\d{3}) ', log))


async def polling_clients(polling: int, upgrading: int, echoes: int) -> dict[str, Any]:
    """python-socketio's own AsyncClient: `polling` clients that never upgrade and `upgrading` ones that start
    polling and upgrade, each `echoes` echoes, then one cross-host broadcast that every one of them must get.
    Failures are counted, not raised, so the test reports every figure."""
    gate = asyncio.Semaphore(50)  # connects in flight
    outcome: Counter[str] = Counter()
    opened: list[tuple[socketio.AsyncClient, asyncio.Queue]] = []

    async def one(index: int, transports: list[str]) -> None:
        sio = socketio.AsyncClient(reconnection=False)
        echoed: asyncio.Queue = asyncio.Queue()
        broadcasts: asyncio.Queue = asyncio.Queue()
        sio.on("message", echoed.put)
        sio.on("broadcast", broadcasts.put)
        sio.on("disconnect", lambda *_: outcome.update(["disconnected"]))
        try:
            async with gate:
                await sio.connect(LB_URL, transports=transports, wait_timeout=WAIT)
            opened.append((sio, broadcasts))
            for n in range(echoes):
                token = f"{index}-{n}"
                await sio.send(token)
                if await asyncio.wait_for(echoed.get(), WAIT) == token:
                    outcome["echoed"] += 1
            outcome[sio.transport()] += 1
        except Exception as error:  # counted: a refused connect, a lost echo
            outcome[f"error: {type(error).__name__}: {error}"[:120]] += 1

    async def broadcast_arrives(broadcasts: asyncio.Queue, token: str) -> None:
        with contextlib.suppress(TimeoutError):
            if await asyncio.wait_for(broadcasts.get(), WAIT) == token:
                outcome["broadcast"] += 1

    groups = [["polling"]] * polling + [["polling", "websocket"]] * upgrading
    try:
        await asyncio.gather(*(one(i, transports) for i, transports in enumerate(groups)))
        if opened:
            token = str(uuid.uuid4())
            await opened[0][0].emit("broadcast", token)
            await asyncio.gather(*(broadcast_arrives(broadcasts, token) for _, broadcasts in opened))
        outcome["workers"] = len({sid_prefix(sio.eio.sid) for sio, _ in opened})
        outcome["dropped"] = outcome.pop("disconnected", 0)
        result = dict(outcome)  # before our own disconnects below
    finally:
        await asyncio.gather(*(sio.disconnect() for sio, _ in opened), return_exceptions=True)
    return result


def test_polling_and_upgrading_clients_from_one_address_keep_their_sessions(record_testsuite_property):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 800 clients, each a poll and a post in flight
    before = int(sh("cluster-lb", "wc", "-l", "/var/log/nginx/access.log").stdout.split()[0])
    outcome = asyncio.run(polling_clients(polling=400, upgrading=400, echoes=20))
    record_testsuite_property("outcome", json.dumps(outcome))
    assert outcome.get("echoed") == 800 * 20, outcome
    assert (outcome.get("polling"), outcome.get("websocket")) == (400, 400), outcome
    assert outcome.get("broadcast") == 800, outcome  # one broadcast, from one worker, reached all four
    assert outcome.get("workers") == len(WORKERS), outcome
    assert outcome.get("dropped") == 0, outcome
    statuses = nginx_statuses_since(before)
    assert not {code for code in statuses if code in ("400", "502", "503", "504")}, statuses


def health(url: str) -> dict:
    return json.loads(http_get(f"{url}/healthz")[1])


def test_each_worker_is_a_distinct_process_on_its_host():
    answers = {key: health(url) for key, url in WORKERS.items()}
    assert {key: answer["host"] for key, answer in answers.items()} == {key: key[0] for key in WORKERS}
    assert len({(answer["host"], answer["pid"]) for answer in answers.values()}) == len(WORKERS)


@pytest.mark.parametrize("sender_key", [("cluster-app1", 1), ("cluster-app2", 2)])
def test_broadcast_reaches_every_worker_of_every_host(on_every_worker, sender_key):
    workers, through_lb = on_every_worker
    token = str(uuid.uuid4())
    workers[sender_key].sio.emit("broadcast", token)
    for key, client in workers.items():
        assert client.next("broadcast") == token, f"worker {key} did not get the broadcast"
    assert through_lb.next("broadcast") == token


def test_an_external_write_only_emitter_reaches_every_host(on_every_worker):
    workers, through_lb = on_every_worker
    token = str(uuid.uuid4())
    emitted = app_python(
        "cluster-app1",
        # The bundled app's manager: python-socketio's own speaks to Sentinels in plain text only, and the queue
        # here is rediss+sentinel://.
        "import os, sys\n"
        "sys.path.insert(0, '/opt/websocket/current/app')\n"
        "from socketapp.rooms import QueueManager\n"
        "queue = os.environ['WEBSOCKET_MESSAGE_QUEUE']\n"
        "QueueManager(queue, channel=os.environ['WEBSOCKET_CHANNEL'], write_only=True)"
        f".emit('broadcast', {token!r})",
    )
    assert emitted.returncode == 0, emitted.stderr
    for client in [*workers.values(), through_lb]:
        assert client.next("broadcast") == token


REDIS_HOSTS = ("cluster-redis1", "cluster-redis2", "cluster-redis3")


def primary() -> tuple[str, str, int]:
    """(container, address, port) of the Redis primary, as every worker reports it (/healthz)."""
    (answer,) = {health(url)["message_queue_primary"] for url in WORKERS.values()}
    address, port = answer.rsplit(":", 1)
    (host,) = [host for host in REDIS_HOSTS if sh(host, "hostname", "-I").stdout.split()[0] == address]
    return host, address, int(port)


def test_redis_admits_only_the_app_user_to_its_channel():
    # The app reaches the primary through the Sentinels; this probe goes to the primary they named, with the app's
    # login and CA, over TLS like the app.
    _, address, port = primary()
    url = queue_url("cluster-app2")
    direct = f"rediss://{url.username}:{url.password}@{address}:{port}/0?{url.query}"
    probe = (
        "import os, urllib.parse, redis\n"
        f"url = urllib.parse.urlsplit({direct!r})\n"
        "anonymous = url._replace(netloc=f'{url.hostname}:{url.port}').geturl()  # over TLS like the app, no user\n"
        "try:\n"
        "    redis.Redis.from_url(anonymous).ping()\n"
        "    print('anonymous: accepted')\n"
        "except redis.AuthenticationError as error:\n"
        "    print('anonymous: refused', error)\n"
        "print('with password:', redis.Redis.from_url(url.geturl()).ping())\n"
        "print('redis host:', url.hostname)\n"
        "app = redis.Redis.from_url(url.geturl())\n"
        "for name, call in [('get', lambda: app.get('k')), ('set', lambda: app.set('k', 1)),\n"
        "                   ('other channel', lambda: app.publish('other', 'x')), ('acl', lambda: app.acl_list()),\n"
        "                   ('eval', lambda: app.eval('return 1', 0)), ('client list', lambda: app.client_list())]:\n"
        "    try:\n"
        "        call()\n"
        "        print(name + ': allowed')\n"
        "    except redis.exceptions.NoPermissionError:\n"
        "        print(name + ': NOPERM')\n"
        "print('own channel:', app.publish(os.environ['WEBSOCKET_CHANNEL'], 'probe'))\n"
    )
    result = app_python("cluster-app2", probe)
    assert result.returncode == 0, result.stderr
    assert "anonymous: refused" in result.stdout
    assert "with password: True" in result.stdout
    assert "redis host: 127." not in result.stdout  # reached over the private network
    # The app's user publishes and subscribes on its channel (4 workers listen) and can do nothing else.
    denied = ["get", "set", "other channel", "acl", "eval", "client list"]
    assert [line for line in result.stdout.splitlines() if line.endswith(": NOPERM")] == [
        f"{n}: NOPERM" for n in denied
    ]
    assert "own channel: 4" in result.stdout
    for host in REDIS_HOSTS:
        config = sh(host, "cat", "/etc/redis/redis.conf").stdout
        assert re.search(r"^protected-mode yes$", config, re.MULTILINE)
        assert re.search(r'^rename-command FLUSHALL ""$', config, re.MULTILINE)
        assert re.search(r'^save ""$', config, re.MULTILINE)
        # What Sentinel sends on a failover stays, for the replication user alone (its ACL line).
        assert not re.search(r"^rename-command (CONFIG|REPLICAOF|SLAVEOF) ", config, re.MULTILINE)
        assert re.search(r"^user replication on .* -@all .*\+replicaof", config, re.MULTILINE)


def queue_url(host: str) -> urllib.parse.SplitResult:
    """The message queue URL the app on `host` was given (its env file)."""
    env = sh(host, "cat", "/etc/websocket/websocket.env").stdout
    return urllib.parse.urlsplit(re.search(r"^WEBSOCKET_MESSAGE_QUEUE=(\S+)$", env, re.MULTILINE).group(1))


def redis_cli(
    host: str, url: urllib.parse.SplitResult | None, address: str, port: int, tls: list[str], *command: str
) -> subprocess.CompletedProcess[str]:
    """redis-cli from `host` to address:port as the app's ACL user (url None: without a login, as python-socketio asks
    a Sentinel); `tls` are redis-cli's TLS options (none: plain TCP); the command is PING when none is given."""
    login = ["--user", url.username, "--pass", url.password, "--no-auth-warning"] if url else []
    return sh(
        host, "timeout", "10", "redis-cli", "-h", address, "-p", str(port), *tls, *login, *(command or ["ping"]),
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize("host", ["cluster-app1", "cluster-app2"])
def test_the_message_queue_speaks_only_verified_tls(host):
    # With no plain port on Redis nor Sentinel (next test), every broadcast test of this suite crosses the hosts over
    # TLS.
    url = queue_url(host)
    ca = urllib.parse.parse_qs(url.query)["ssl_ca_certs"][0]
    assert url.scheme == "rediss+sentinel"
    assert ca == "/etc/websocket/message-queue-ca.pem"
    # Every Redis host's Sentinel, by its private address, and the master name.
    sentinels = url.netloc.rsplit("@", 1)[1].split(",")
    assert sorted(sentinels) == sorted(f"{sh(h, 'hostname', '-I').stdout.split()[0]}:26379" for h in REDIS_HOSTS)
    assert url.path == "/0/websocket"
    _, address, port = primary()
    # The ACL user over TLS, trusting the scenario's CA (which the role copied to the app host): PONG.
    trusted = redis_cli(host, url, address, port, ["--tls", "--cacert", ca])
    assert trusted.stdout.strip() == "PONG", trusted.stdout + trusted.stderr
    # Plain TCP to the same port: no answer to a command, whatever the password.
    plain = redis_cli(host, url, address, port, [])
    assert "PONG" not in plain.stdout, plain.stdout
    assert plain.returncode != 0, plain.stdout + plain.stderr
    # TLS trusting only the public CAs (not the scenario's): the handshake fails on Redis's certificate.
    stranger = redis_cli(host, url, address, port, ["--tls", "--cacert", "/etc/ssl/certs/ca-certificates.crt"])
    assert "PONG" not in stranger.stdout, stranger.stdout
    assert "certificate verify failed" in stranger.stdout + stranger.stderr, stranger.stdout + stranger.stderr
    # Each Sentinel names the primary over verified TLS to anyone (no login), and says nothing over plain TCP.
    for sentinel in sentinels:
        s_address, s_port = sentinel.rsplit(":", 1)
        ask = ["SENTINEL", "get-master-addr-by-name", "websocket"]
        named = redis_cli(host, None, s_address, int(s_port), ["--tls", "--cacert", ca], *ask)
        assert named.stdout.split() == [address, str(port)], named.stdout + named.stderr
        plain = redis_cli(host, None, s_address, int(s_port), [], *ask)
        assert address not in plain.stdout, plain.stdout
    # Every worker of this host subscribed over that TLS connection (websocket-status reads each worker's /healthz).
    rows = {key: row for key, row in worker_status().items() if key[0] == host}
    assert {key: row["message_queue"] for key, row in rows.items()} == dict.fromkeys(rows, "subscribed")
    assert {key: row["queue_primary"] for key, row in rows.items()} == dict.fromkeys(rows, f"{address}:{port}")


@pytest.mark.parametrize("redis_host", REDIS_HOSTS)
def test_redis_and_sentinel_listen_with_tls_only_and_keep_their_key_to_themselves(redis_host):
    listening = sh(redis_host, "ss", "-Hltnp").stdout
    ports = {
        (m.group(2), int(m.group(1)))
        for m in re.finditer(r":(\d+)\s+\S+\s+users:\(\(\"(redis-server|redis-sentinel)\"", listening)
    }
    assert ports == {("redis-server", 6379), ("redis-sentinel", 26379)}, listening  # TLS ports only
    for config in ("/etc/redis/redis.conf", "/etc/redis/sentinel/sentinel.conf"):
        text = sh(redis_host, "cat", config).stdout
        assert re.search(r"^port 0$", text, re.MULTILINE), config
        assert re.search(r"^tls-port \d+$", text, re.MULTILINE), config
    key = sh(redis_host, "stat", "-c", "%U %G %a", "/etc/redis/tls/redis.key").stdout.split()
    assert key == ["redis", "redis", "600"]
    # Sentinel is sandboxed like Redis, and may write its own directory alone (it rewrites its config file there).
    exposure = {
        unit: float(re.search(r"exposure level for \S+: ([\d.]+)", sh(redis_host, "systemd-analyze", "security", unit,
                                                                          check=False).stdout).group(1))
        for unit in ("redis-server", "redis-sentinel")
    }  # fmt: skip
    assert exposure["redis-sentinel"] <= exposure["redis-server"], exposure
    writable = sh(redis_host, "systemctl", "show", "--property=ReadWritePaths", "--value", "redis-sentinel").stdout
    assert writable.split() == ["/etc/redis/sentinel"]
    # From the Redis host itself too, plain TCP on loopback gets nothing.
    for port in ("6379", "26379"):
        local = sh(redis_host, "timeout", "10", "redis-cli", "-h", "127.0.0.1", "-p", port, "ping", check=False)
        assert "PONG" not in local.stdout, local.stdout
        assert re.search(r"Error|Could not connect", local.stdout + local.stderr), local.stdout + local.stderr


def reaches(source: str, target: str, port: int) -> bool:
    """Whether a TCP connection from one container to another's port is accepted within 3 s (a drop times out)."""
    probe = f"import socket; socket.create_connection(('{target}', {port}), timeout=3); print('reached')"
    return sh(source, "python3", "-c", probe, check=False).stdout.strip() == "reached"


@pytest.mark.parametrize(
    ("source", "target", "port", "admitted"),
    [
        ("cluster-lb", "cluster-app1", 15001, True),
        ("cluster-redis1", "cluster-app1", 15001, False),
        ("cluster-app2", "cluster-app1", 15002, False),
        ("cluster-app1", "cluster-redis1", 6379, True),
        ("cluster-lb", "cluster-redis1", 6379, False),
        # Sentinel: the app hosts and the other Redis hosts reach it, and Redis (replication); nobody else.
        ("cluster-app2", "cluster-redis2", 26379, True),
        ("cluster-redis3", "cluster-redis1", 26379, True),
        ("cluster-redis2", "cluster-redis3", 6379, True),
        ("cluster-lb", "cluster-redis3", 26379, False),
    ],
)
def test_the_host_firewall_admits_only_the_load_balancer_to_workers_and_app_hosts_to_redis(
    source, target, port, admitted
):
    assert reaches(source, target, port) is admitted
    assert "tcp dport" in sh(target, "nft", "list", "table", "inet", "websocket_firewall").stdout


def test_rolling_restart_keeps_broadcasts_flowing_and_loses_no_client(on_every_worker):
    host_of = {row["sid_prefix"]: host for (host, _), row in worker_status().items()}
    with clients(LB_URL, 8) as balanced:
        # Through the load balancer, spread by least_conn over every worker of both hosts.
        assert {host_of[sid_prefix(client.sio.eio.sid)] for client in balanced} == {"cluster-app1", "cluster-app2"}
        _rolls_keeping_every_client(on_every_worker, balanced, host_of)


def _rolls_keeping_every_client(on_every_worker, balanced, host_of) -> None:
    workers, through_lb = on_every_worker
    # app1 -> app2 across hosts, and app2 -> app2 across workers (through Redis) while app1 restarts.
    sender, listener = workers[("cluster-app1", 1)], workers[("cluster-app2", 1)]
    neighbour = workers[("cluster-app2", 2)]
    pids_before = {key: health(url)["pid"] for key, url in WORKERS.items()}
    sent: dict[str, list[tuple[int, float]]] = {"roll": [], "stay": []}
    listener_gone: list[float] = []
    listener.sio.on("disconnect", lambda *_: listener_gone.append(time.monotonic()))
    stop = threading.Event()

    def send_forever(client: Client, name: str) -> None:
        seq = 0
        while not stop.is_set():
            if client.sio.connected:
                try:
                    client.sio.emit("broadcast", f"{name}-{seq}")
                    sent[name].append((seq, time.monotonic()))
                    seq += 1
                except socketio.exceptions.BadNamespaceError:
                    pass  # disconnected mid-emit while its host restarts
            time.sleep(0.2)

    threads = [
        threading.Thread(target=send_forever, args=pair, daemon=True)
        for pair in ((sender, "roll"), (neighbour, "stay"))
    ]
    for thread in threads:
        thread.start()
    time.sleep(1)
    roll = playbook("playbooks/rolling-restart.yml")
    time.sleep(1)
    stop.set()
    for thread in threads:
        thread.join(timeout=WAIT)
    assert roll.rc == 0, roll.output[-5000:]

    received = set()
    while not listener.events["broadcast"].empty():
        received.add(listener.events["broadcast"].get())
    assert len(sender.connected_at) >= 2, "the sender on app1 never reconnected after app1 restarted"
    reconnected = sender.connected_at[1]
    # app2's clients stayed connected while app1 restarted: their first reconnect came after app1's.
    assert len(listener.connected_at) >= 2, "app2 was not restarted"
    assert listener.connected_at[1] > reconnected, "app2's client was disconnected while app1 restarted"
    before = [seq for seq, at in sent["roll"] if at < reconnected - 2]
    after = [seq for seq, at in sent["roll"] if at > reconnected]
    assert any(f"roll-{seq}" in received for seq in before), "no broadcast from app1 reached app2 before the restart"
    assert any(f"roll-{seq}" in received for seq in after), "no broadcast from app1 reached app2 after the restart"
    # Until app2's own restart (a second of margin), app2's client missed not one broadcast of app2's other worker,
    # all through app1's restart.
    kept = [seq for seq, at in sent["stay"] if at < listener_gone[0] - 1]
    assert [seq for seq, at in sent["stay"] if reconnected - 3 < at < reconnected], "app2 sent nothing meanwhile"
    assert [seq for seq in kept if f"stay-{seq}" not in received] == [], "app2's client missed a broadcast"

    pids_after = {key: health(url)["pid"] for key, url in WORKERS.items()}
    assert all(pids_after[key] != pids_before[key] for key in WORKERS), "every worker was restarted"
    for key, client in [*workers.items(), ("lb", through_lb), *enumerate(balanced)]:
        deadline = time.monotonic() + 30
        while not client.sio.connected and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.sio.connected, f"client on {key} ended the roll disconnected"
        assert client.echo(f"still-{key}") == f"still-{key}"
    # The clients that came through the load balancer lost their worker when its host restarted; each reconnected
    # with a new handshake (no sid of the dead worker) and was balanced to a live one.
    assert [index for index, client in enumerate(balanced) if len(client.connected_at) < 2] == []
    assert [index for index, client in enumerate(balanced) if sid_prefix(client.sio.eio.sid) not in host_of] == []


def test_more_workers_without_a_message_queue_fail_before_any_change(tmp_path):
    # A throwaway host (a Redis container is not an app host); nothing may be installed on it.
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  children:\n    websocket:\n      hosts:\n        cluster-redis3:\n"
        "          ansible_connection: containers.podman.podman\n"
        "          ansible_python_interpreter: /usr/bin/python3\n"
    )
    # No group_vars here: the source directory the bundle's wiring gives is given too.
    extra = json.dumps(
        {"websocket_app_processes": 2, "websocket_app_message_queue": "", "websocket_app_source_dir": f"{PROJECT}/app"}
    )
    result = playbook("playbooks/websocket.yml", "-e", extra, inventory=inventory)
    output = result.output
    assert result.rc != 0
    # The message names both variables and the value given (the callback may wrap it).
    assert re.search(
        r"websocket_app_message_queue\s+must\s+be\s+set\s+when\s+websocket_app_processes\s+is\s+above\s+1\s+\(is\s+2\)",
        output,
    )
    assert re.search(r"cluster-redis3\s*:.*changed=0", output)
    assert sh("cluster-redis3", "test", "-e", "/etc/websocket", check=False).returncode == 1
    assert sh("cluster-redis3", "id", "websocket", check=False).returncode != 0


@pytest.mark.parametrize("host", ["cluster-app1", "cluster-app2"])
def test_the_redis_client_runs_on_a_monkey_patched_socket(host):
    # Without gevent's early monkey patch python-socketio refuses Redis on the first connection.
    log = sh(host, "journalctl", "-u", "websocket", "--no-pager", "-o", "cat").stdout
    assert "message_queue=on" in log
    assert "monkey patched" not in log
    assert "Traceback" not in log
    assert re.search(
        r"^gevent-early-monkey-patch = true$", sh(host, "cat", "/etc/websocket/uwsgi.ini").stdout, re.MULTILINE
    )
