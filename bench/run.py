"""Measure the doc's comparison table: what each way of finding user-service costs.

    python -m bench.run            (make bench: ~20 minutes, writes docs/bench.md and docs/bench.png)
    python -m bench.run --short    (a few seconds per path, writes under .run/bench/; what CI runs)

All paths run at once, started through the same launcher as the demos (local mode, real nginx,
real Consul, gunicorn), and are measured in interleaved rounds, so every ratio compares numbers
taken side by side on this machine. The load generator is wrk (not the code under test), over
loopback only, bounded in time. wrk gets a CPU of its own (the last one); everything under test
shares the others, so the load generator never takes CPU time from the path it measures.
A target is judged on the per-round ratios to the baseline: their median, and a bootstrap 95%
interval of that median, so "met" and "missed" are only said when the interval says so. Rounds go
on until every target is decided (at least 8, at most 20), since the p50 of one path moves by far
more than 10% from second to second on this machine.
"""

import argparse
import dataclasses
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from bench import grpc as grpc_bench
from bench import saga
from localmode.demo import LocalDemo
from localmode.ports import Ports
from localmode.process import ROOT
from localmode.wait import wait_until

LUA = Path(__file__).with_name("wrk_report.lua")


def no_keepalive(conf):
    """The control: the same gateway without upstream keepalive (a new TCP connection per hop)."""
    conf = re.sub(r"\n\s*keepalive \d+;", "", conf)
    conf = re.sub(r"\n\s*keepalive_timeout [^;]+;", "", conf)
    return conf.replace('proxy_set_header Connection "";', "proxy_set_header Connection close;")


# The gateway's rate limit would refuse a load generator; the bench measures the hops.
UNLIMITED = {"GATEWAY_RATE_LIMIT": "1000000r/s", "GATEWAY_RATE_BURST": "1000000"}
# The upstream blocks, with keepalive: the gateway the targets are about.
KEEPALIVE = {**UNLIMITED, "GATEWAY_RESOLVE": "once"}


def cpus():
    """(CPUs for the systems under test, CPU for wrk): wrk gets the last one when there are two or more."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return set(available), None
    return set(available[:-1]), available[-1]


# Decided once, at import: main() then narrows this process (and all it starts) to SYSTEM_CPUS,
# after which asking again would find one CPU and leave wrk on the systems' CPU.
SYSTEM_CPUS, WRK_CPU = cpus()


def demos(workdir):
    """The systems under test; each gets its own ports so all run at once."""
    return {
        # The doc's "Hardcoding IPs": order-service's GATEWAY_URL points straight at user-service.
        "baseline": LocalDemo(
            "gateway",
            workdir=workdir / "baseline",
            ports=Ports.block(21000),
            service_env={"GATEWAY_URL": "http://127.0.0.1:21001"},
        ),
        # The same order with the lookup over gRPC (USER_API=grpc), still straight to user-service.
        "baseline-grpc": LocalDemo(
            "gateway",
            workdir=workdir / "baseline-grpc",
            ports=Ports.block(26000),
            service_env={"USER_API": "grpc", "GATEWAY_GRPC_URL": "grpc://127.0.0.1:26051"},
        ),
        # The same order without its event (NOTIFY=off): what the outbox row costs.
        "baseline-no-outbox": LocalDemo(
            "gateway",
            workdir=workdir / "baseline-no-outbox",
            ports=Ports.block(28000),
            service_env={"GATEWAY_URL": "http://127.0.0.1:28001", "NOTIFY": "off"},
        ),
        "gateway": LocalDemo("gateway", workdir=workdir / "gateway", ports=Ports.block(22000), service_env=KEEPALIVE),
        "gateway-no-keepalive": LocalDemo(
            "gateway",
            workdir=workdir / "gateway-nk",
            ports=Ports.block(23000),
            gateway_conf_edit=no_keepalive,
            service_env=KEEPALIVE,
        ),
        # The template's default: names re-resolved every few seconds, which costs the keepalive.
        "gateway-re-resolving": LocalDemo(
            "gateway", workdir=workdir / "gateway-rr", ports=Ports.block(27000), service_env=UNLIMITED
        ),
        "discovery-cached": LocalDemo("discovery", workdir=workdir / "cached", ports=Ports.block(24000)),
        "discovery-per-request": LocalDemo(
            "discovery",
            workdir=workdir / "per-request",
            ports=dataclasses.replace(Ports.block(25000), consul=26500),
            service_env={"CONSUL_LOOKUP": "per-request"},
        ),
    }


def paths(d):
    """(name, what it is, method, url, demo whose Consul to count)."""
    gw = d["gateway"]
    return [
        ("baseline", "order → user at a hard-coded address", "POST", f"{d['baseline'].order_url}/orders", None),
        (
            "baseline-grpc",
            "the same order, the lookup over gRPC (USER_API=grpc)",
            "POST",
            f"{d['baseline-grpc'].order_url}/orders",
            None,
        ),
        (
            "baseline-no-outbox",
            "the same order without its event (NOTIFY=off)",
            "POST",
            f"{d['baseline-no-outbox'].order_url}/orders",
            None,
        ),
        (
            "gateway",
            "client → nginx → order → nginx → user, upstream keepalive",
            "POST",
            f"{gw.gateway_url}/orders",
            None,
        ),
        (
            "gateway-no-keepalive",
            "the same, no upstream keepalive (control)",
            "POST",
            f"{d['gateway-no-keepalive'].gateway_url}/orders",
            None,
        ),
        (
            "gateway-re-resolving",
            "the same, names re-resolved (the template's default)",
            "POST",
            f"{d['gateway-re-resolving'].gateway_url}/orders",
            None,
        ),
        (
            "discovery-per-request",
            "order asks Consul before every call",
            "POST",
            f"{d['discovery-per-request'].order_url}/orders",
            d["discovery-per-request"],
        ),
        (
            "discovery-cached",
            "order's local view, blocking-query refreshed",
            "POST",
            f"{d['discovery-cached'].order_url}/orders",
            d["discovery-cached"],
        ),
        # GET /users: nginx caches GET /users/<id>, and storing a copy per request is not a hop's cost.
        ("user-direct", "GET /users on user-service", "GET", f"{gw.user_url}/users", None),
        ("user-via-nginx", "GET /users through nginx (one hop, not cached)", "GET", f"{gw.gateway_url}/users", None),
        ("nginx-alone", "GET /health that nginx answers itself", "GET", f"{gw.gateway_url}/health", None),
        (
            "translated-via-nginx",
            "GET /v1/users: nginx, REST-to-gRPC translation, nginx (gRPC), user-service's gRPC API",
            "GET",
            f"{d['baseline-grpc'].gateway_url}/v1/users",
            None,
        ),
    ]


def wrk(method, url, concurrency, seconds):
    pin = ["taskset", "-c", str(WRK_CPU)] if WRK_CPU is not None else []
    out = subprocess.run(
        [*pin, "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "5s", "-s", str(LUA), url],
        env={"BENCH_METHOD": method, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("BENCH "))[6:])
    result["rps"] = result["requests"] / result["seconds"]
    return result


class ConsulLog:
    """Health queries for user-service that Consul itself logged (its dev agent logs each request),
    counted as the log grows: the per-request path adds a line per order."""

    def __init__(self, demo):
        self.path = demo.workdir / "logs" / "consul.log" if demo else None
        self.offset = 0

    def new_lookups(self):
        if self.path is None:
            return 0
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            text = log.read()
        self.offset += text.rfind(b"\n") + 1  # a half-written last line is counted next time
        return text[: text.rfind(b"\n") + 1].count(b"url=/v1/health/service/user-service")


def cpu_ticks():
    """(steal, total) jiffies of the whole machine: steal is time the host gave our CPUs to others."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields)


def loopback_rtt(samples=2000):
    """The physical floor: one TCP round trip over loopback (1-byte ping-pong), in ms."""
    server = socket.create_server(("127.0.0.1", 0))

    def echo():
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1):
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    times = []
    with socket.create_connection(server.getsockname()) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(samples):
            start = time.perf_counter()
            client.sendall(b"x")
            client.recv(1)
            times.append((time.perf_counter() - start) * 1000)
    server.close()
    times.sort()
    return {"p50": times[len(times) // 2], "p99": times[int(len(times) * 0.99)]}


def spread(values):
    return (max(values) - min(values)) / statistics.median(values) if len(values) > 1 else 0.0


def measure(systems, levels, seconds, warmup, max_rounds, min_rounds):
    """Interleaved rounds until every path's p50 spread is under 10%, or every target is decided
    (after min_rounds), or max_rounds. Each path is measured right next to a baseline run (before
    it in odd rounds, after it in even ones), so a ratio compares two runs a second apart,
    whatever the machine did in between."""
    rounds, pairs = {}, {}
    consul_logs = {}
    for name, _, method, url, consul_demo in paths(systems):
        consul_logs[name] = ConsulLog(consul_demo)
        for c in levels:
            wrk(method, url, c, warmup)  # warm connections, caches, SQLite pages
    baseline = paths(systems)[0]
    others = paths(systems)[1:]
    for round_no in range(1, max_rounds + 1):
        # Each round starts with a different path, so none is always measured first (or right
        # after nginx alone has driven the machine at tens of thousands of requests per second).
        order = others[round_no % len(others) :] + others[: round_no % len(others)]
        for path in order:
            for c in levels:
                both = [baseline, path] if round_no % 2 else [path, baseline]
                results = {}
                for name, _, method, url, _ in both:
                    consul_logs[name].new_lookups()
                    steal, total = cpu_ticks()
                    started = time.time()
                    result = wrk(method, url, c, seconds)
                    result["window"] = (started, time.time())
                    result["consul_per_request"] = consul_logs[name].new_lookups() / max(result["requests"], 1)
                    steal_after, total_after = cpu_ticks()
                    result["steal"] = (steal_after - steal) / max(total_after - total, 1)
                    rounds.setdefault((name, c), []).append(result)
                    results[name] = result
                pairs.setdefault((path[0], c), []).append((results[path[0]], results[baseline[0]]))
        worst = max(spread([r["p50"] for r in runs]) for runs in rounds.values())
        undecided = [label for label, *_, verdict in targets(rounds, pairs, levels) if verdict not in ("met", "MISSED")]
        print(f"round {round_no}: worst p50 spread {worst:.1%}, targets not decided: {len(undecided)}", flush=True)
        if round_no >= min_rounds and (worst < 0.10 or not undecided):
            break
    return rounds, pairs


def event_lags(demo, rounds, levels):
    """From an order's commit (its event's time) to its stored notification, for the orders the
    baseline's runs placed at each concurrency: {c: {"p50": ms, "p99": ms, "events": n}}."""
    data = demo.workdir / "data"

    def count(database, sql):
        with sqlite3.connect(data / database) as conn:
            return conn.execute(sql).fetchone()[0]

    # Every event published and every one notified: the consumer has caught up.
    wait_until(
        lambda: (
            count("orders.sqlite3", "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL") == 0
            and count("notifications.sqlite3", "SELECT COUNT(*) FROM notifications")
            == count("orders.sqlite3", "SELECT COUNT(*) FROM outbox")
        ),
        120,
        "every event to be notified",
        interval=0.1,
    )
    with sqlite3.connect(data / "notifications.sqlite3") as conn:
        stored = conn.execute(
            "SELECT event_time, created_at FROM notifications WHERE event_time IS NOT NULL"
        ).fetchall()
    lags = {}
    for c in levels:
        windows = [r["window"] for r in rounds[("baseline", c)]]
        ms = sorted((done - sent) * 1000 for sent, done in stored if any(a <= sent <= b for a, b in windows))
        if ms:
            lags[c] = {"p50": ms[len(ms) // 2], "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))], "events": len(ms)}
    return lags


def order_health(demo):
    return requests.get(f"{demo.order_url}/health", timeout=5).json()


def relay_throughput(demo, seconds=2):
    """Events per second the relay publishes: orders pile up in the outbox while the broker is
    stopped, then the clock runs from its return until the outbox is empty."""
    broker = demo.processes["nats"]
    broker.stop()
    wrk("POST", f"{demo.order_url}/orders", 8, seconds)
    waiting = order_health(demo)["outbox_depth"]
    broker.start()
    broker.wait_ready()
    back = time.monotonic()
    wait_until(lambda: order_health(demo)["outbox_depth"] == 0, 120, "the outbox to drain", interval=0.01)
    took = time.monotonic() - back
    return {"events": waiting, "seconds": took, "per_second": waiting / took}


def summarize(rounds, pairs):
    table = {}
    for key, runs in rounds.items():
        ratios = {m: round_ratios(pairs, *key, m) for m in ("p50", "p99", "rps")}
        table[key] = {
            # Ratios to the baseline run next to each of this path's runs; the baseline's own are 1.
            **{f"{m}x": statistics.median(values) if values else 1.0 for m, values in ratios.items()},
            "p50": statistics.median(r["p50"] for r in runs),
            "p95": statistics.median(r["p95"] for r in runs),
            "p99": statistics.median(r["p99"] for r in runs),
            "rps": statistics.median(r["rps"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "consul": statistics.median(r["consul_per_request"] for r in runs),
            "spread": spread([r["p50"] for r in runs]),
            "steal": statistics.median(r["steal"] for r in runs),
            "rounds": len(runs),
        }
        for m in ("p50", "rps"):
            if len(ratios[m]) > 1:
                table[key][f"{m}x_interval"] = median_interval(ratios[m])
    return table


def round_ratios(pairs, name, c, metric):
    """The path's metric over the baseline's, for each pair of runs made next to each other
    (none for the baseline itself)."""
    return [r[metric] / b[metric] for r, b in pairs.get((name, c), [])]


def median_interval(values, resamples=2000, seed=1):
    """Bootstrap 95% interval of the median: how far another run's median could plausibly be."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def targets(rounds, pairs, levels):
    checks = []

    def check(label, values, limit, higher_is_better=False):
        value = statistics.median(values)
        low, high = median_interval(values)
        good, bad = (low >= limit, high < limit) if higher_is_better else (high <= limit, low > limit)
        verdict = "met" if good else "MISSED" if bad else "not decided: the interval spans the target"
        if len(values) < 3:
            verdict = "not judged: too few rounds"
        interval = f"{low:.3f}–{high:.3f}" if len(values) > 1 else "one round"
        checks.append((label, f"{value:.3f}", interval, f"{'≥' if higher_is_better else '≤'} {limit}", verdict))

    c1, c8 = levels[0], levels[1] if len(levels) > 1 else levels[0]
    check(f"discovery-cached p50 / baseline, c={c1}", round_ratios(pairs, "discovery-cached", c1, "p50"), 1.05)
    check(f"discovery-cached p99 / baseline, c={c1}", round_ratios(pairs, "discovery-cached", c1, "p99"), 1.20)
    consul = [r["consul_per_request"] for r in rounds[("discovery-cached", c1)]]
    checks.append(
        (
            f"discovery-cached Consul requests per order, c={c1}",
            f"{max(consul):.3f}",
            "max of rounds",
            "0",
            "met" if max(consul) == 0 else "MISSED",
        )
    )
    check(f"gateway p50 / baseline, c={c1}", round_ratios(pairs, "gateway", c1, "p50"), 1.15)
    # The baseline writes its order's event to the outbox; the control does not.
    with_outbox = [1 / r for r in round_ratios(pairs, "baseline-no-outbox", c1, "p50")]
    check(f"order p50 with the outbox / without it, c={c1}", with_outbox, 1.05)
    check(f"gateway req/s / baseline, c={c8}", round_ratios(pairs, "gateway", c8, "rps"), 0.85, True)
    return checks


def render(table, checks, levels, rtt, descriptions, meta):
    lines = [
        f"Measured {meta['date']} on {meta['machine']}; wrk, {meta['seconds']} s per run, "
        f"median of {meta['rounds']} interleaved rounds; {meta['pinning']}; CPU time the host took "
        f"away (steal) during a run: median {statistics.median(meta['steal']):.1%}, "
        f"max {max(meta['steal']):.1%}. Latency in ms; ratios (×) are "
        "medians of path / baseline over pairs of runs made next to each other, at the same concurrency.",
        "",
    ]
    for c in levels:
        lines += [
            f"**Concurrency {c}**",
            "",
            "| path | what | p50 | p95 | p99 | req/s | errors | p50 × | p99 × | req/s × "
            "| Consul req/order | p50 spread |",
            "|--|--|--|--|--|--|--|--|--|--|--|--|",
        ]
        for name, what in descriptions:
            r = table[(name, c)]
            lines.append(
                f"| {name} | {what} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | {r['rps']:.0f} | "
                f"{r['errors']} | {r['p50x']:.2f} | {r['p99x']:.2f} | "
                f"{r['rpsx']:.2f} | {r['consul']:.2f} | {r['spread']:.0%} |"
            )
        lines.append("")
    lines += [
        f"Floor: a loopback TCP round trip takes {rtt['p50'] * 1000:.0f} µs (p50), {rtt['p99'] * 1000:.0f} µs (p99).",
        "",
        "Targets, judged on the ratios to the baseline run made right next to each run of the path: "
        "their median, and a bootstrap 95% interval of that median.",
        "",
        "| target | median | 95% interval | wanted | |",
        "|--|--|--|--|--|",
        *[
            f"| {label} | {value} | {interval} | {limit} | {verdict} |"
            for label, value, interval, limit, verdict in checks
        ],
        "",
    ]
    return "\n".join(lines)


def messaging_checks(lags, levels):
    """The messaging issue's goal: an event's lag from commit to notification, p99 at c=8."""
    c8 = levels[1] if len(levels) > 1 else levels[0]
    lag = lags.get(c8, {}).get("p99")
    if lag is None:
        return [(f"event lag p99, c={c8}", "-", "no events", "≤ 50 ms", "not judged: no events")]
    verdict = "met" if lag <= 50 else "MISSED"
    return [
        (f"event lag p99 (commit → stored notification), c={c8}", f"{lag:.1f} ms", "all events", "≤ 50 ms", verdict)
    ]


def render_messaging(lags, relay):
    lines = [
        "**Messaging**: from an order's commit (its event's time) to its notification stored by",
        "notification-service, for every order the baseline placed; and the relay's throughput, draining",
        "an outbox filled while the broker was stopped.",
        "",
        "| concurrency | events | lag p50 ms | lag p99 ms |",
        "|--|--|--|--|",
        *[f"| {c} | {v['events']} | {v['p50']:.1f} | {v['p99']:.1f} |" for c, v in sorted(lags.items())],
        "",
        f"Relay: {relay['events']} events published in {relay['seconds']:.2f} s: {relay['per_second']:.0f} events/s.",
        "",
    ]
    return "\n".join(lines)


def plot(table, levels, descriptions, orders, path):
    """The ratios the README's claims rest on (median of paired runs, 95% interval) for the paths
    in `orders`, and the absolute latencies of every path with the floor below them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, _ in descriptions]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    width = 0.8 / len(levels)
    for i, c in enumerate(levels):
        for ax, metric in ((axes[0], "p50"), (axes[1], "rps")):
            xs = [j + i * width for j in range(len(orders))]
            rows = [table[(n, c)] for n in orders]
            values = [r[f"{metric}x"] for r in rows]
            intervals = [r.get(f"{metric}x_interval", (v, v)) for r, v in zip(rows, values, strict=True)]
            errors = [
                [v - low for v, (low, _) in zip(values, intervals, strict=True)],
                [high - v for v, (_, high) in zip(values, intervals, strict=True)],
            ]
            ax.bar(xs, values, width, yerr=errors, capsize=2, label=f"c={c}")
        xs = [j + i * width for j in range(len(names))]
        axes[2].bar(xs, [table[(n, c)]["p50"] for n in names], width, label=f"p50, c={c}")
        axes[2].scatter(xs, [table[(n, c)]["p99"] for n in names], marker="_", s=200, color="black")
    axes[0].set_title("order p50 / baseline (paired runs, 95% interval)")
    axes[1].set_title("order requests/s / baseline (paired runs, 95% interval)")
    axes[2].set_title("latency, ms, log scale (bar p50, tick p99)")
    axes[2].set_yscale("log")
    for ax in axes[:2]:
        ax.axhline(1.0, color="black", linewidth=0.8)
    for ax, shown in zip(axes, (orders, orders, names), strict=True):
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(shown))], shown, rotation=35, ha="right", fontsize=8)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="seconds, not minutes: checks it runs (CI)")
    parser.add_argument("--out", help="where the table and plot go (default docs/, or .run/bench/ with --short)")
    args = parser.parse_args(argv)
    # `kill` (SIGTERM) stops the bench as Ctrl-C does: through the finally that stops its demos.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = Path(args.out or (ROOT / ".run" / "bench" if args.short else ROOT / "docs"))
    out.mkdir(parents=True, exist_ok=True)
    if args.short:
        levels, seconds, warmup, max_rounds, min_rounds = [1, 8], 1, 1, 1, 1
    else:
        # Short runs, many pairs: the host's noise changes from second to second (see docs/bench.md).
        levels, seconds, warmup, max_rounds, min_rounds = [1, 8, 32], 1, 1, 20, 8

    os.sched_setaffinity(0, SYSTEM_CPUS)  # inherited by every process the launcher starts
    pinning = (
        f"wrk pinned to CPU {WRK_CPU}, the systems under test to CPU {','.join(map(str, sorted(SYSTEM_CPUS)))}"
        if WRK_CPU is not None
        else "one CPU: wrk and the systems share it"
    )

    workdir = ROOT / ".run" / "bench" / "systems"
    shutil.rmtree(workdir, ignore_errors=True)  # every run starts from empty databases
    systems = demos(workdir)
    started = []
    try:
        for demo in systems.values():
            started.append(demo.start())
            requests.post(f"{demo.entry_urls['users']}/users", json={"name": "Alice"}, timeout=10).raise_for_status()
        rtt = loopback_rtt()
        rounds, pairs = measure(systems, levels, seconds, warmup, max_rounds, min_rounds)
        lags = event_lags(systems["baseline"], rounds, levels)
        relay = relay_throughput(systems["baseline"])
    finally:
        for demo in reversed(started):
            demo.stop()
    sagas = saga.run(args.short, workdir)  # one demo at a time, after the paths
    lookups = grpc_bench.run(args.short, workdir)

    table = summarize(rounds, pairs)
    measured = paths(systems)
    descriptions = [(name, what) for name, what, *_ in measured]
    # The ways of placing an order, each compared with the baseline (the first path).
    orders = [name for name, _, method, *_ in measured[1:] if method == "POST"]
    checks = targets(rounds, pairs, levels)
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, nginx {nginx_version()}, Python {platform.python_version()}",
        "seconds": seconds,
        "rounds": max(r["rounds"] for (name, _), r in table.items() if name != "baseline"),
        "pinning": pinning,
        "steal": [r["steal"] for runs in rounds.values() for r in runs],
    }
    checks += messaging_checks(lags, levels)
    text = (
        render(table, checks, levels, rtt, descriptions, meta)
        + render_messaging(lags, relay)
        + saga.render(sagas)
        + grpc_bench.render(lookups)
    )
    (out / "bench.md").write_text(text)
    (out / "bench.json").write_text(
        json.dumps(
            {f"{n}@{c}": v for (n, c), v in table.items()}
            | {"loopback_rtt_ms": rtt, "event_lag_ms": lags, "relay": relay, "sagas": sagas, "lookups": lookups}
            | {"runs": {f"{n}@{c}": runs for (n, c), runs in rounds.items()}},
            indent=1,
        )
    )
    plot(table, levels, descriptions, orders, out / "bench.png")
    print(text)
    print(f"wrote {out / 'bench.md'}, {out / 'bench.png'}")
    return 0


def nginx_version():
    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
    return out.strip().split("/")[-1]


if __name__ == "__main__":
    sys.exit(main())
