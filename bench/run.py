"""Runs the benchmark against deployed containers side by side in one run and writes JSON, a chart and a summary.

Each target is a systemd container deployed by site.yml: the seed's setup, the bundle's defaults, and the bundle's
defaults with python-engineio's own WebSocket driver (`websocket_app_transport: engineio`), which shows what the
bundle's transport alone changes. The load
generator runs in the container's network namespace (nsenter) and reaches nginx on 127.0.0.1:80 from many loopback
source addresses, as clients from many addresses would.

Usage: python bench/run.py --target seed=websocket-seed --target bundle=websocket-sandbox
                          [--target engineio=websocket-engineio] [--smoke] [--out DIR] [--large-inventory inventory]
                          [--one-address bundle]

With --large-inventory, the bundle target is redeployed from that inventory twice: with every worker sized for the
whole plan (`websocket_app_even_spread: false`, the sizing before balancing by session) for the capacity step, and
with websocket_app_planned_connections set to the `capacity_large` figure, held at that many connections; then it is
redeployed with its own values. --one-address TARGET adds that target's echo sweep with every client from one address.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from containers import container_pid, playbook, sh, status

HERE = Path(__file__).resolve().parent
LOADGEN = HERE / "loadgen.py"
REFCLIENT = HERE / "refclient.py"
P99_BUDGET_MS = 50.0
# What shares the host's cores during an echo run: the server's processes and the load generator.
PROCESSES = ("uwsgi", "nginx", "loadgen")
# Loopback source addresses of the load generator's clients, as clients from many addresses would come; the
# one-address sweep (--one-address) uses one, as clients behind one NAT, proxy or port forward would.
SOURCES = 16

FULL = {
    # Ramps at 300/s: connecting is the expensive part, holding is cheap. On the slower host of 2026-12-01 the
    # workers accepted fewer than 1,000/s, the listen backlog filled and nginx answered 502 (bench/README.md).
    "capacity": {"clients": 10000, "hold": 60, "rate": 300, "processes": 2},
    "capacity_large": {"clients": 20000, "hold": 60, "rate": 300, "processes": 2},
    # Each rate runs `repeats` times and reports the median p99: one stall in a short step moves a p99 a lot.
    # Connect at 300/s: the echo scenario measures messages, and the seed's listen = 100 refuses faster bursts.
    "echo": {
        "clients": 900,
        # Up to 18,000 messages/s offered: past the bundle's saturation on 2 cores, so its peak is measured, not
        # capped by the sweep (each target stops once its median latency is past the budget).
        "rates": [0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20],
        "repeats": 3,
        "duration": 6,
        "processes": 2,
        "connect_rate": 300,
    },
    "echo_1000": {"clients": 1000, "rate": 1, "duration": 10, "processes": 2},
    "broadcast": {"clients": 900, "messages": 10, "processes": 2},
    "broadcast_large": {"clients": 10000, "messages": 10, "processes": 2, "rate": 300},
    # python-socketio's own client (not ours): the bundle at its planned 10,000, the seed just past its 1,000 cap
    # (more only prolongs the seed's overflow, see bench/README.md).
    "reference": {"clients": 10000, "seed_clients": 1100, "hold": 60, "rate": 300, "processes": 2},
}
SMOKE = {
    "capacity": {"clients": 40, "hold": 3, "rate": 200, "processes": 1},
    "echo": {"clients": 20, "rates": [1, 4], "repeats": 2, "duration": 2, "processes": 1, "connect_rate": 200},
    "echo_1000": {"clients": 20, "rate": 1, "duration": 2, "processes": 1},
    "broadcast": {"clients": 20, "messages": 2, "processes": 1},
    "broadcast_large": {"clients": 40, "messages": 2, "processes": 1},
    "reference": {"clients": 30, "seed_clients": 30, "hold": 2, "rate": 200, "processes": 1},
}


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def in_container_netns(container: str, tool: Path, *arguments: str, **options: Any) -> dict[str, Any]:
    """Run a load tool in the container's network namespace; its last stdout line is the JSON result."""
    command = ["nsenter", "-t", str(container_pid(container)), "-n", "--", sys.executable, str(tool), *arguments]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tool.name} {' '.join(arguments)} on {container} exited {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def loadgen(container: str, scenario: str, **options: Any) -> dict[str, Any]:
    return in_container_netns(container, LOADGEN, scenario, **options)


def reference(container: str, plan: dict[str, Any], large: bool) -> dict[str, Any]:
    options = {key: plan[key] for key in ("hold", "rate", "processes")}
    return in_container_netns(container, REFCLIENT, clients=plan["clients" if large else "seed_clients"], **options)


def processes(container: str) -> dict[str, list[tuple[int, int]]]:
    """RSS (KiB) and CPU ticks of the uWSGI and nginx processes in a container."""
    script = (
        "for p in $(pgrep -x uwsgi) $(pgrep -x nginx); do "
        "echo \"$(cat /proc/$p/comm) $(awk '/VmRSS/ {print $2}' /proc/$p/status) "
        "$(awk '{print $14 + $15}' /proc/$p/stat)\"; done"
    )
    out = sh(container, "sh", "-c", script, check=False).stdout
    found: dict[str, list[tuple[int, int]]] = {"uwsgi": [], "nginx": []}
    for line in out.splitlines():
        name, rss, ticks = line.split()
        found[name].append((int(rss), int(ticks)))
    return found


def totals(sample: dict[str, list[tuple[int, int]]]) -> dict[str, tuple[int, int]]:
    return {name: (sum(r for r, _ in rows), sum(t for _, t in rows)) for name, rows in sample.items()}


def generator_ticks() -> int:
    """CPU ticks of this host's load generator processes (they share the cores with the server they measure)."""
    ticks = 0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and LOADGEN.name.encode() in (proc / "cmdline").read_bytes():
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
        except OSError:
            continue  # gone meanwhile
    return ticks


def cpu_sample(container: str) -> dict[str, tuple[int, int]]:
    """RSS and CPU ticks of the container's uWSGI and nginx, and CPU ticks of the load generator."""
    return {**totals(processes(container)), "loadgen": (0, generator_ticks())}


def settle(container: str, limit: float = 90) -> None:
    """Wait until the server is idle again (the previous scenario's disconnects processed) before measuring."""
    deadline = time.monotonic() + limit
    last = totals(processes(container))["uwsgi"][1]
    while time.monotonic() < deadline:
        time.sleep(2)
        now = totals(processes(container))["uwsgi"][1]
        if now - last < 10:  # under 5% of a core over 2 s
            return
        last = now
    log(f"{container}: still busy after {limit}s, measuring anyway")


def fresh(container: str) -> None:
    """Restart the service so that no scenario inherits the previous one's state (the seed stays degraded after
    its capacity overflow), then wait until nginx answers from a worker and the CPU is quiet."""
    sh(container, "systemctl", "restart", "websocket", timeout=None)
    probe = "import urllib.request; urllib.request.urlopen('http://127.0.0.1/healthz', timeout=2)"
    for _ in range(60):
        if sh(container, "python3", "-c", probe, check=False).returncode == 0:
            break
        time.sleep(1)
    time.sleep(6)  # nginx's fail_timeout for TCP workers; unix-socket workers are never marked down
    settle(container)


def sampled(
    container: str, scenario: str, options: dict[str, Any], after: float, window: float
) -> tuple[dict[str, Any], dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    """A load scenario's result and the container's process totals `after` seconds into it and `window` later."""
    result: dict[str, Any] = {}
    run = threading.Thread(target=lambda: result.update(loadgen(container, scenario, **options)))
    run.start()
    time.sleep(after)
    start = cpu_sample(container)
    time.sleep(window)
    end = cpu_sample(container)
    run.join()
    return result, start, end


def capacity(container: str, plan: dict[str, Any]) -> dict[str, Any]:
    before = totals(processes(container))
    ramp = plan["clients"] / plan["rate"]
    window = max(1.0, plan["hold"] / 2)
    result, at_hold, later = sampled(container, "capacity", plan, ramp + min(10, plan["hold"] / 4), window)
    per_k = max(1, result.get("held", 0)) / 1000
    result["rss_mb_per_1000"] = {
        name: round((at_hold[name][0] - before[name][0]) / 1024 / per_k, 2) for name in ("uwsgi", "nginx")
    }
    # Ticks are 1/100 s: CPU share of one core while holding idle connections (pings only).
    result["idle_cpu_percent"] = {
        name: round((later[name][1] - at_hold[name][1]) / window, 1) for name in ("uwsgi", "nginx")
    }
    return result


def echo_run(container: str, plan: dict[str, Any], rate: float, sources: int = SOURCES) -> dict[str, Any]:
    """One echo run from `sources` client addresses; uWSGI's CPU (every process) is sampled over the middle of the
    sending phase, after the clients connected, and divided by the messages echoed meanwhile: worker CPU per echo."""
    settle(container)
    options = {
        "clients": plan["clients"],
        "per_client_rate": rate,
        "duration": plan["duration"],
        "processes": plan["processes"],
        "rate": plan["connect_rate"],
        "sources": sources,
    }
    window = plan["duration"] / 2
    result, start, end = sampled(container, "echo", options, plan["clients"] / plan["connect_rate"] + 1.5, window)
    echoed = (result.get("rate_per_second") or 0) * window
    # Ticks are 1/100 s: ms per echo for each, and the share of the host's cores each used (where the cores went).
    used = {name: end[name][1] - start[name][1] for name in PROCESSES}
    result["cpu_ms_per_echo"] = round(used["uwsgi"] * 10 / echoed, 3) if echoed else None
    result["cores_used"] = {name: round(ticks / 100 / window, 2) for name, ticks in used.items()}
    return result


def echo_step(rate: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One rate's runs: the median of their figures, the runs kept beside it."""

    def median(get: Any) -> float | None:
        values = [v for v in map(get, runs) if v is not None]
        return round(statistics.median(values), 2) if values else None

    return {
        "per_client_rate": rate,
        "rate_per_second": median(lambda r: r["rate_per_second"]),
        "latency_ms": {k: median(lambda r, k=k: r["latency_ms"][k]) for k in ("p50", "p95", "p99", "mean")},
        "cpu_ms_per_echo": median(lambda r: r.get("cpu_ms_per_echo")),
        "cores_used": {k: median(lambda r, k=k: r.get("cores_used", {}).get(k)) for k in PROCESSES},
        "p99_runs_ms": [r["latency_ms"]["p99"] for r in runs],
        # Like the latencies, the median run: one run with a refused connection does not end the sweep.
        "failed": median(lambda r: r["failed"]),
        "unanswered": median(lambda r: r["unanswered"]),
        "failed_runs": [r["failed"] for r in runs],
    }


def echo_sweep(lanes: dict[str, tuple[str, int]], plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every lane's echo sweep (name: container and client source addresses), interleaved: each rate's runs
    alternate between the lanes, so that a change in the machine's speed during the run (a busy neighbour on a shared
    host) shifts both sides of a ratio alike."""
    for container in {container for container, _ in lanes.values()}:
        fresh(container)
    steps: dict[str, list[dict[str, Any]]] = {name: [] for name in lanes}
    sweeping = dict(lanes)
    for rate in plan["rates"]:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sweeping}
        for _ in range(plan["repeats"]):
            for name, (container, sources) in sweeping.items():
                runs[name].append(echo_run(container, plan, rate, sources))
        for name, (container, sources) in list(sweeping.items()):
            step = echo_step(rate, runs[name])
            log(
                f"{container} echo {plan['clients']}x{rate}/s from {sources} addresses: {step['rate_per_second']}/s"
                f" p99 {step['latency_ms']['p99']} ms (runs {step['p99_runs_ms']}, failed {step['failed_runs']})"
            )
            steps[name].append(step)
            if step["failed"] or (step["latency_ms"]["p50"] or 1e9) > P99_BUDGET_MS:
                del sweeping[name]  # far past the budget: higher rates only take longer
        if not sweeping:
            break
    return {name: echo_summary(target_steps) for name, target_steps in steps.items()}


def echo_summary(steps: list[dict[str, Any]]) -> dict[str, Any]:
    good = [s for s in steps if not s["failed"] and (s["latency_ms"]["p99"] or 1e9) < P99_BUDGET_MS]
    best = max(good, key=lambda s: s["rate_per_second"], default=None)
    clean = [s for s in steps if not s["failed"] and not s["unanswered"]]
    peak = max(clean, key=lambda s: s["rate_per_second"], default=None)
    return {
        "steps": steps,
        # None: no rate met the budget (not even the lowest); the summary says so instead of printing a ratio.
        "best_rate_within_budget": best["rate_per_second"] if best else None,
        "peak_rate": peak["rate_per_second"] if peak else 0.0,
        "cores_used_at_peak": peak["cores_used"] if peak else None,
    }


def deploy(inventory: str, **variables: Any) -> None:
    """site.yml with the inventory's values, overridden by `variables` (none: the inventory's own values)."""
    extra = ["-e", json.dumps(variables)] if variables else []
    log(" ".join(["ansible-playbook", "site.yml", "-i", inventory, *extra]))
    started = time.monotonic()
    # Each task as it starts: a deploy takes minutes.
    run = playbook(
        "site.yml",
        *extra,
        inventory=inventory,
        progress=lambda line: log(f"{time.monotonic() - started:6.0f} s  {line}"),
    )
    if run.rc != 0:
        raise RuntimeError(f"site.yml on {inventory} exited {run.rc}: {run.output[-3000:]}")


def worker_sizing(container: str) -> dict[str, Any]:
    """What each uWSGI worker is sized for, at rest: async (gevent) cores, descriptor limit and RSS."""
    workers = status(container)["workers"]
    limits = sh(container, "cat", f"/proc/{workers[0]['pid']}/limits", check=False).stdout
    nofile = next(line.split()[3] for line in limits.splitlines() if line.startswith("Max open files"))
    return {
        "workers": len(workers),
        "async_cores": workers[0]["async_cores"],
        "nofile": int(nofile),
        "rss_mb_at_rest": max(worker["rss_mb"] for worker in workers),
    }


def bench_target(container: str, plan: dict[str, Any], large: bool, inventory: str | None) -> dict[str, Any]:
    """Every scenario but the echo sweep on one target; `large`: the bundle-sized steps, `inventory`: capacity_large
    too (a redeploy with more planned connections)."""
    # Capacity last and every scenario on a freshly restarted service, so none inherits another's state.
    result: dict[str, Any] = {}
    fresh(container)
    e = plan["echo_1000"]
    log(f"{container}: echo {e['clients']} clients x {e['rate']}/s")
    result["echo_1000"] = loadgen(
        container,
        "echo",
        clients=e["clients"],
        per_client_rate=e["rate"],
        duration=e["duration"],
        processes=e["processes"],
    )
    fresh(container)
    log(f"{container}: broadcast to {plan['broadcast']['clients']} clients")
    result["broadcast"] = loadgen(container, "broadcast", **plan["broadcast"])
    if large:
        fresh(container)
        log(f"{container}: broadcast to {plan['broadcast_large']['clients']} clients")
        result["broadcast_large"] = loadgen(container, "broadcast", **plan["broadcast_large"])
    fresh(container)
    result["sizing"] = worker_sizing(container)
    log(f"{container}: capacity {plan['capacity']['clients']} clients")
    result["capacity"] = capacity(container, plan["capacity"])
    fresh(container)
    log(f"{container}: capacity measured with python-socketio's AsyncClient")
    result["reference"] = reference(container, plan["reference"], large)
    if inventory:
        try:
            result["whole_plan_per_worker"] = whole_plan_per_worker(container, plan, inventory)
            if "capacity_large" in plan:
                clients = plan["capacity_large"]["clients"]
                deploy(inventory, websocket_app_planned_connections=clients)
                fresh(container)
                log(f"{container}: capacity {clients} clients (planned {clients})")
                result["capacity_large"] = capacity(container, plan["capacity_large"])
        finally:
            deploy(inventory)
    return result


def whole_plan_per_worker(container: str, plan: dict[str, Any], inventory: str) -> dict[str, Any]:
    """The sizing before balancing by session: every worker sized for the whole plan (as with address hashing),
    its sizing at rest and the capacity step's figures; the caller redeploys the inventory's own values."""
    deploy(inventory, websocket_app_even_spread=False)
    fresh(container)
    sizing = worker_sizing(container)
    log(f"{container}: capacity {plan['capacity']['clients']} clients, every worker sized for the whole plan")
    return {"sizing": sizing, "capacity": capacity(container, plan["capacity"])}


def ratio(a: float | None, b: float | None) -> float | str | None:
    if a and not b:
        return "the second never met the budget"
    return round(a / b, 2) if a and b else None


def echo_cpu_at(result: dict[str, Any], rate: float) -> float | None:
    return next((s["cpu_ms_per_echo"] for s in result["echo"]["steps"] if s["per_client_rate"] == rate), None)


# Per-client rate at which worker CPU per echo is compared between transports: one both reach on every host seen.
CPU_COMPARISON_RATE = 2


def compare_transports(bundle: dict[str, Any], engineio: dict[str, Any]) -> dict[str, Any]:
    """The bundle's transport over python-engineio's driver, both with the bundle's other defaults, same run."""
    ratios = {
        "idle_cpu_10000_engineio_over_bundle": ratio(
            engineio["capacity"]["idle_cpu_percent"]["uwsgi"], bundle["capacity"]["idle_cpu_percent"]["uwsgi"]
        ),
        "uwsgi_rss_per_1000_engineio_over_bundle": ratio(
            engineio["capacity"]["rss_mb_per_1000"]["uwsgi"], bundle["capacity"]["rss_mb_per_1000"]["uwsgi"]
        ),
        f"worker_cpu_per_echo_at_{CPU_COMPARISON_RATE}_per_client_bundle_over_engineio": ratio(
            echo_cpu_at(bundle, CPU_COMPARISON_RATE), echo_cpu_at(engineio, CPU_COMPARISON_RATE)
        ),
        "echo_peak_rate_bundle_over_engineio": ratio(bundle["echo"]["peak_rate"], engineio["echo"]["peak_rate"]),
    }
    if "broadcast_large" in bundle and "broadcast_large" in engineio:
        ratios["broadcast_10000_p99_engineio_over_bundle"] = ratio(
            engineio["broadcast_large"]["latency_ms"]["p99"], bundle["broadcast_large"]["latency_ms"]["p99"]
        )
    return ratios


def compare(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    seed, bundle, engineio = results.get("seed"), results.get("bundle"), results.get("engineio")
    if not seed or not bundle:
        return {}
    return {
        **(compare_transports(bundle, engineio) if engineio else {}),
        "capacity_held": ratio(bundle["capacity"]["held"], seed["capacity"]["held"]),
        "echo_best_rate_within_p99_budget": ratio(
            bundle["echo"]["best_rate_within_budget"], seed["echo"]["best_rate_within_budget"]
        ),
        "echo_peak_rate": ratio(bundle["echo"]["peak_rate"], seed["echo"]["peak_rate"]),
        **(
            {
                "echo_peak_rate_bundle_one_address_over_16_addresses": ratio(
                    bundle["echo_one_address"]["peak_rate"], bundle["echo"]["peak_rate"]
                ),
                "echo_peak_rate_bundle_one_address_over_seed": ratio(
                    bundle["echo_one_address"]["peak_rate"], seed["echo"]["peak_rate"]
                ),
            }
            if "echo_one_address" in bundle
            else {}
        ),
        "echo_1000_p99_seed_over_bundle": ratio(
            seed["echo_1000"]["latency_ms"]["p99"], bundle["echo_1000"]["latency_ms"]["p99"]
        ),
        "broadcast_p99_seed_over_bundle": ratio(
            seed["broadcast"]["latency_ms"]["p99"], bundle["broadcast"]["latency_ms"]["p99"]
        ),
    }


def chart(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, (left, middle, right, reference) = plt.subplots(1, 4, figsize=(20, 4.5))
    for name in names:
        steps = [s for s in results[name]["echo"]["steps"] if s["latency_ms"]["p99"] is not None]
        rates = [s["rate_per_second"] for s in steps]
        p99 = [s["latency_ms"]["p99"] for s in steps]
        # The spread of each rate's runs (their lowest and highest p99) around the median the sweep reports.
        runs = [s.get("p99_runs_ms") or [p] for s, p in zip(steps, p99, strict=True)]
        spread = [
            [p - min(r) for r, p in zip(runs, p99, strict=True)],
            [max(r) - p for r, p in zip(runs, p99, strict=True)],
        ]
        left.errorbar(rates, p99, yerr=spread, fmt="o-", capsize=3, label=name)
    left.axhline(P99_BUDGET_MS, color="grey", linestyle="--", linewidth=1)
    left.set(
        title="echo: p99 round trip vs delivered rate\n(median of the runs; bars: lowest to highest run)",
        xlabel="messages/s",
        ylabel="p99 ms",
        yscale="log",
    )
    left.legend()
    width = 0.35
    for i, name in enumerate(names):
        e = results[name]["echo_1000"]["latency_ms"]
        b = results[name]["broadcast"]["latency_ms"]
        middle.bar([x + i * width for x in range(3)], [e["p50"] or 0, e["p95"] or 0, e["p99"] or 0], width, label=name)
        right.bar(name, results[name]["capacity"]["held"], label=f"{name} (broadcast p99 {b['p99']} ms)")
        if "capacity_large" in results[name]:
            large = results[name]["capacity_large"]
            right.bar(f"{name}\nplanned {large['clients']}", large["held"], label=f"{name}, planned {large['clients']}")
    middle.set_xticks([x + width / 2 for x in range(3)], ["p50", "p95", "p99"])
    middle.set(title="echo: 1,000 clients x 1 msg/s", ylabel="ms")
    middle.legend()
    right.set(title="capacity: connections held", ylabel="WebSocket clients")
    right.legend(fontsize=8)
    # python-socketio's own AsyncClient: held through the hold and echoed, against the clients it tried.
    for i, name in enumerate(names):
        ref = results[name].get("reference")
        if ref:
            reference.bar(
                [i - width / 2], [ref["clients"]], width, color="lightgrey", label="tried" if i == 0 else None
            )
            reference.bar([i + width / 2], [ref["held"]], width, color=f"C{i}", label=f"{name}: held {ref['held']}")
    reference.set_xticks(range(len(names)), names)
    reference.set(title="capacity: python-socketio AsyncClient\n(held through the hold, then echoed)", ylabel="clients")
    reference.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def summary(report: dict[str, Any]) -> str:
    results, ratios = report["results"], report["ratios"]
    lines = [
        "# Benchmark: seed setup vs bundle defaults (and the bundle on python-engineio's driver)",
        "",
        f"Run {report['started']} on {report['host']['cpus']} CPUs by `make bench`, all targets in this run: the echo",
        "sweep alternates between them run by run, the other scenarios measure one target after the other. The load",
        "generator runs in each container's network namespace (clients from 16 loopback addresses, or one where",
        "named). Read the ratios,",
        "not the absolute numbers: the load generator shares the cores.",
        "",
        "| | " + " | ".join(results) + " |",
        "| --- | " + " | ".join("---" for _ in results) + " |",
    ]

    def row(label: str, get: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(str(get(r)) for r in results.values()) + " |")

    row("capacity: held / tried", lambda r: f"{r['capacity']['held']} / {r['capacity']['clients']}")
    row("capacity: failed, dropped", lambda r: f"{r['capacity']['failed']}, {r['capacity']['dropped']}")
    row(
        "python-socketio AsyncClient: held / tried (failed, dropped, echoed)",
        lambda r: (
            f"{r['reference']['held']} / {r['reference']['clients']}"
            f" ({r['reference']['failed']}, {r['reference']['dropped']}, {r['reference']['echoed']})"
        ),
    )
    row("uWSGI RSS MB per 1,000 conns", lambda r: r["capacity"]["rss_mb_per_1000"]["uwsgi"])
    row("nginx RSS MB per 1,000 conns", lambda r: r["capacity"]["rss_mb_per_1000"]["nginx"])
    row("idle CPU % (uWSGI, nginx)", lambda r: tuple(r["capacity"]["idle_cpu_percent"].values()))
    row("echo: best msg/s with p99 < 50 ms (median of runs)", lambda r: r["echo"]["best_rate_within_budget"] or "never")
    row("echo: peak delivered msg/s (no loss)", lambda r: r["echo"]["peak_rate"])
    row(
        "echo from one client address: peak / best within p99 budget msg/s",
        lambda r: (
            f"{r['echo_one_address']['peak_rate']} / {r['echo_one_address']['best_rate_within_budget']}"
            if "echo_one_address" in r
            else "not run"
        ),
    )
    row(
        "echo at the peak: cores used by uWSGI / nginx / load generator",
        lambda r: " / ".join(str(v) for v in (r["echo"]["cores_used_at_peak"] or {}).values()),
    )
    row(
        f"echo: uWSGI CPU ms per echo at {CPU_COMPARISON_RATE}/s per client",
        lambda r: echo_cpu_at(r, CPU_COMPARISON_RATE),
    )
    row(
        "echo 1,000 x 1/s: p50 / p95 / p99 ms",
        lambda r: " / ".join(str(r["echo_1000"]["latency_ms"][k]) for k in ("p50", "p95", "p99")),
    )
    row("echo 1,000 x 1/s: failed clients", lambda r: r["echo_1000"]["failed"])
    row(
        "broadcast: p50 / p99 ms",
        lambda r: f"{r['broadcast']['latency_ms']['p50']} / {r['broadcast']['latency_ms']['p99']}",
    )
    row(
        "broadcast: delivered / expected",
        lambda r: f"{r['broadcast']['received']} / {r['broadcast']['connected'] * r['broadcast']['sent']}",
    )
    row(
        "each worker at rest: gevent cores / descriptor limit / RSS MB",
        lambda r: " / ".join(str(r["sizing"][key]) for key in ("async_cores", "nofile", "rss_mb_at_rest")),
    )
    lines += ["", "## Ratios (same run; bundle vs seed unless named)", ""]
    lines += [f"- {key.replace('_', ' ')}: **{value}**" for key, value in ratios.items()]
    for name, result in results.items():
        large = result.get("broadcast_large")
        if large:
            lines += [
                "",
                f"{name}: broadcast to {large['connected']} clients across workers: p50 {large['latency_ms']['p50']}"
                f" ms, p99 {large['latency_ms']['p99']} ms, {large['received']} deliveries.",
            ]
    whole = results.get("bundle", {}).get("whole_plan_per_worker")
    if whole:
        now, before = results["bundle"]["sizing"], whole["sizing"]
        lines += [
            "",
            "Bundle worker sizing, from its share of the plan (balanced by session) vs the whole plan per worker (the"
            " sizing address hashing needs, `websocket_app_even_spread: false`); the last two rows from the capacity"
            f" step at {report['plan']['capacity']['clients']} connections:",
            "",
            "| per worker | share of the plan | whole plan |",
            "| --- | --- | --- |",
            f"| gevent cores | {now['async_cores']} | {before['async_cores']} |",
            f"| descriptor limit | {now['nofile']} | {before['nofile']} |",
            f"| RSS at rest MB | {now['rss_mb_at_rest']} | {before['rss_mb_at_rest']} |",
            f"| uWSGI RSS MB per 1,000 connections | {results['bundle']['capacity']['rss_mb_per_1000']['uwsgi']}"
            f" | {whole['capacity']['rss_mb_per_1000']['uwsgi']} |",
            f"| held / tried | {results['bundle']['capacity']['held']} / {results['bundle']['capacity']['clients']}"
            f" | {whole['capacity']['held']} / {whole['capacity']['clients']} |",
        ]
    held = results.get("bundle", {}).get("capacity_large")
    if held:
        lines += [
            "",
            f"Bundle redeployed with `websocket_app_planned_connections: {held['clients']}`: held {held['held']} of"
            f" {held['clients']} for {report['plan']['capacity_large']['hold']} s, failed {held['failed']},"
            f" dropped {held['dropped']}; uWSGI RSS {held['rss_mb_per_1000']['uwsgi']} MB and nginx"
            f" {held['rss_mb_per_1000']['nginx']} MB per 1,000 connections.",
        ]
    lines += ["", "![latency and capacity](chart.png)", "", "Raw figures: `results.json`.", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", action="append", default=[], help="name=container, e.g. seed=websocket-seed")
    parser.add_argument(
        "--render",
        action="store_true",
        help="redraw chart.png and summary.md from --out's results.json, measure nothing",
    )
    parser.add_argument("--smoke", action="store_true", help="seconds, a few clients: keeps the tool working")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--large-inventory", help="inventory of the bundle target, for the capacity_large step")
    parser.add_argument("--one-address", help="a target whose echo sweep also runs with every client from one address")
    args = parser.parse_args(argv)
    if args.render:
        write(json.loads((args.out / "results.json").read_text()), args.out)
        return 0
    if not args.target:
        parser.error("give at least one --target (or --render)")
    plan = SMOKE if args.smoke else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "host": {"cpus": len(os.sched_getaffinity(0))},
        "plan": plan,
        "results": {},
    }
    containers = dict(target.split("=", 1) for target in args.target)
    lanes = {name: (container, SOURCES) for name, container in containers.items()}
    if args.one_address:
        if args.one_address not in containers:
            parser.error(f"--one-address {args.one_address}: not one of the targets ({', '.join(containers)})")
        lanes[f"{args.one_address}/one address"] = (containers[args.one_address], 1)
    log(f"echo sweep at {plan['echo']['clients']} clients, interleaved: {', '.join(lanes)}")
    sweeps = echo_sweep(lanes, plan["echo"])
    for name, container in containers.items():
        large = name != "seed" or len(containers) == 1
        inventory = args.large_inventory if name == "bundle" or len(containers) == 1 else None
        report["results"][name] = {"echo": sweeps[name], **bench_target(container, plan, large, inventory)}
        if f"{name}/one address" in sweeps:
            report["results"][name]["echo_one_address"] = sweeps[f"{name}/one address"]
    report["ratios"] = compare(report["results"])
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    write(report, args.out)
    return 0


def write(report: dict[str, Any], out: Path) -> None:
    """The chart and the summary of a run's report."""
    chart(report["results"], out / "chart.png")
    (out / "summary.md").write_text(summary(report))
    print(summary(report))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
