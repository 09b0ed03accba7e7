"""The user lookup over REST and over gRPC, side by side: with order-service's own transports
(communication/synchronous/rest.py and grpc_transport.py), straight to user-service and through
nginx; sequential calls, interleaved rounds.

    python -m bench.grpc [--short]     (make bench runs it after the paths)

The outline's claim ("gRPC: fast") is judged on the p50 ratio gRPC / REST; the order path with
USER_API=grpc, and the translation's cost, are wrk paths of bench/run.py.
"""

import statistics
import time

import requests

from bench import run_alone
from communication.synchronous.grpc_transport import GrpcTransport
from communication.synchronous.rest import RestTransport
from localmode.demo import LocalDemo
from localmode.ports import Ports


def demo(workdir):
    ports = Ports.block(20000)
    return LocalDemo("gateway", workdir=workdir / "grpc", ports=ports, service_env={"USER_API": "grpc"})


def timed(call, count):
    """ms of each of `count` calls, one after the other."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def lookups(system):
    """The four ways to look user 1 up, each a callable returning when the answer is in."""
    rest, grpc = RestTransport(), GrpcTransport()  # each keeps its connections, as in order-service
    return {
        "REST direct": lambda: rest.get_user(system.user_url, 1, {}),
        "gRPC direct": lambda: grpc.get_user(f"grpc://127.0.0.1:{system.ports.user_grpc}", 1, {}),
        "REST via nginx": lambda: rest.get_user(system.gateway_url, 1, {}),
        "gRPC via nginx": lambda: grpc.get_user(f"grpc://127.0.0.1:{system.ports.gateway_grpc}", 1, {}),
    }


def measure(workdir, count, rounds):
    with demo(workdir) as system:
        requests.post(f"{system.user_url}/users", json={"name": "Alice"}, timeout=10).raise_for_status()
        calls = lookups(system)
        samples = {name: [] for name in calls}
        for call in calls.values():
            timed(call, 200)  # warm-up: connections, pages
        for round_no in range(rounds):
            names = list(calls)[round_no % 4 :] + list(calls)[: round_no % 4]  # no fixed order
            for name in names:
                samples[name] += timed(calls[name], count)
    result = {}
    for name, times in samples.items():
        times.sort()
        result[name] = {"p50": statistics.median(times), "p99": times[int(len(times) * 0.99)], "n": len(times)}
    for where in ("direct", "via nginx"):
        result[f"gRPC / REST p50, {where}"] = result[f"gRPC {where}"]["p50"] / result[f"REST {where}"]["p50"]
    return result


def render(result):
    lines = [
        "**REST or gRPC**: the user lookup with order-service's own transports (urllib3's pool; a kept",
        f"gRPC channel), {result['REST direct']['n']} sequential calls each, interleaved; ms.",
        "",
        "| lookup | p50 | p99 |",
        "|--|--|--|",
        *[f"| {name} | {r['p50']:.3f} | {r['p99']:.3f} |" for name, r in result.items() if isinstance(r, dict)],
        "",
        f"gRPC / REST, p50: {result['gRPC / REST p50, direct']:.2f}× direct, "
        f"{result['gRPC / REST p50, via nginx']:.2f}× through nginx (goal ≤ 0.8×).",
        "",
    ]
    return "\n".join(lines)


def run(short, workdir):
    return measure(workdir, count=200 if short else 2000, rounds=2 if short else 5)


if __name__ == "__main__":
    raise SystemExit(run_alone(__doc__, run, render, "grpc"))
