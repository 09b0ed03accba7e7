"""What every part of make bench measures with: wrk on a CPU of its own, ratios of runs made next
to each other, and a verdict that is only "met" or "MISSED" when its interval says so."""

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.cpu import CpuMeter, demo_roots
from localmode.demo import LocalDemo
from localmode.ports import Ports

LUA = Path(__file__).with_name("wrk_report.lua")


def cpus():
    """(CPUs for the systems under test, CPU for wrk): wrk gets the last one when there are two or more."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return set(available), None
    return set(available[:-1]), available[-1]


# Decided once, at import: the bench then narrows itself (and all it starts) to SYSTEM_CPUS,
# after which asking again would find one CPU and leave wrk on the systems' CPU.
SYSTEM_CPUS, WRK_CPU = cpus()


def pin_to_system_cpus():
    """This process and all it starts from now on: off wrk's CPU. Returns what to say about it."""
    os.sched_setaffinity(0, SYSTEM_CPUS)
    if WRK_CPU is None:
        return "one CPU: wrk and the systems share it"
    return f"wrk pinned to CPU {WRK_CPU}, the systems under test to CPU {','.join(map(str, sorted(SYSTEM_CPUS)))}"


def hard_coded(workdir, base, **settings):
    """The doc's "Hardcoding IPs", every ratio's baseline: the gateway demo with order-service's
    GATEWAY_URL straight at user-service (no nginx on the order's path), ports from `base`."""
    ports = Ports.block(base)
    env = {"GATEWAY_URL": f"http://127.0.0.1:{ports.user}", **settings}
    return LocalDemo("gateway", workdir=workdir, ports=ports, service_env=env)


def wrk(method, url, concurrency, seconds):
    """One wrk run: requests, seconds, errors, p50/p95/p99 (ms) and rps."""
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


def interleaved(urls, pairs, pause_ms=0):
    """Orders to two systems in turn (bench/interleave.py) on wrk's CPU: ([ms], [ms]), errors."""
    pin = ["taskset", "-c", str(WRK_CPU)] if WRK_CPU is not None else []
    out = subprocess.run(
        [*pin, sys.executable, "-m", "bench.interleave", str(pairs), *urls, str(pause_ms)],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=60 + pairs * (0.2 + pause_ms / 500),
        check=True,
    ).stdout
    result = json.loads(out)
    return result["latencies"], sum(result["errors"])


def new_blocks():
    """What paired_blocks fills: per block the two ratios, each side's p50 and CPU ms per order;
    `looks`: how many times the blocks may be judged before their verdict is final (verdict())."""
    return {"p50": [], "cpu": [], "ms": [], "cpu_ms": [], "errors": 0, "looks": 1}


def paired_blocks(systems, blocks, pairs, into, pause_ms=0):
    """Blocks of orders to two systems in turn, `systems` = [(order URL, demo), (order URL, demo)]:
    appends to `into` (new_blocks()) each block's ratios first / second of the p50 and of the CPU
    time per order (every process of each demo), each side's p50 and CPU ms, and the errors."""
    urls = [url for url, _ in systems]
    for _ in range(blocks):
        meters = [CpuMeter(demo_roots(demo)) for _, demo in systems]
        latencies, failed = interleaved(urls, pairs, pause_ms)
        p50s = [statistics.median(ms) for ms in latencies]
        cpu = [meter.ms_per(pairs) for meter in meters]
        into["p50"].append(p50s[0] / p50s[1])
        into["cpu"].append(cpu[0] / cpu[1])
        into["ms"].append(p50s)
        into["cpu_ms"].append(cpu)
        into["errors"] += failed
    return into


# A target its blocks leave open gets more, up to this many times as many blocks in all.
MOST_BLOCKS = 3


def blocks_until_decided(systems, blocks, pairs, limit, into, last_look=None):
    """paired_blocks() for a target, judged at fixed points only: after `blocks` blocks; if its
    p50 ratio's interval still spans `limit`, after MOST_BLOCKS × `blocks` in all; still open then,
    with `last_look`, after `last_look` × `blocks`. More of the same orders, on just the two systems
    the target compares, is what narrows its interval. Every look may end it, so each is judged
    at its share of the 5% (into["looks"], which judged() reads)."""
    stages = [MOST_BLOCKS, *([last_look] if last_look else [])]
    into["looks"] = 1 + len(stages)
    paired_blocks(systems, blocks, pairs, into)
    for most in stages:
        if decided(verdict(into["p50"], limit, looks=into["looks"])[2]):
            break
        paired_blocks(systems, most * blocks - len(into["p50"]), pairs, into)
    return into


def judged(ratios, limit, looks=1):
    """A target's ratios, judged: {"ratio": median, "interval": text, "verdict": ...}."""
    value, interval, said = verdict(ratios, limit, looks=looks)
    return {"ratio": value, "interval": interval, "verdict": said}


def judged_row(label, p50, cpu, limit, count):
    """A row of the targets table from judged() p50 and CPU ratios: the verdict is the p50's."""
    cpu_text = f"{cpu['ratio']:.3f} ({cpu['interval']})"
    return (label, f"{p50['ratio']:.3f}", p50["interval"], cpu_text, f"≤ {limit}", p50["verdict"], count)


def spread(values):
    return (max(values) - min(values)) / statistics.median(values) if len(values) > 1 else 0.0


# The chance, over all of a target's looks, that its verdict is wrong (when the ratios' order
# is as likely either way of the true median, the one assumption the interval makes).
ERROR = 0.05


def median_interval(values, confidence=1 - ERROR):
    """Distribution-free interval of the median: the k-th smallest and k-th largest value, with k
    as large as a fair coin allows (fewer than k of n values fall below the median with chance
    at most (1 - confidence) / 2). None when n is too small for any k (n < 6 at 95%)."""
    n, tail, k, below = len(values), (1 - confidence) / 2, 0, 0.0
    while k < n and below + math.comb(n, k) / 2**n <= tail:
        below += math.comb(n, k) / 2**n
        k += 1
    if k == 0:
        return None
    ordered = sorted(values)
    return ordered[k - 1], ordered[n - k]


def shown(interval):
    """An interval as the tables print it."""
    return f"{interval[0]:.3f}–{interval[1]:.3f}" if interval else "too few for an interval"


def verdict(values, limit, higher_is_better=False, looks=1):
    """(median, interval text, verdict) of paired ratios against a target. A target that may be
    judged `looks` times (more runs while it is open) gets a 1 - ERROR/looks interval each time:
    a run that stops when a look decides would otherwise decide on chance more often than ERROR."""
    if not values:
        return None, "no runs", "not judged: no runs"
    value = statistics.median(values)
    interval = median_interval(values, 1 - ERROR / looks)
    if interval is None:
        return value, shown(interval), "not judged: too few rounds"
    low, high = interval
    good, bad = (low >= limit, high < limit) if higher_is_better else (high <= limit, low > limit)
    said = "met" if good else "MISSED" if bad else "not decided: the interval spans the target"
    return value, shown(interval), said


def decided(said):
    return said in ("met", "MISSED")
