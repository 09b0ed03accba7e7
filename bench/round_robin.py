"""Why an order costs more CPU with 10 user-service instances: work per second, or per lookup?

    python -m bench.round_robin [--short]     (make bench runs it after the growth)

One discovery demo with 10 user-service instances, each in a network namespace at its own address,
on the systems' CPU as in the growth measurement. user-service's CPU (every instance together) is
read while nothing is asked (work per second: health checks, re-registration, gunicorn's own), and
per lookup, the lookups made with order-service's own transport either all to one instance or
round robin over all of them, as the cached view and nginx spread them: the same processes run
either way. Rounds alternate which goes first; per round the ratio round robin / one instance.
"""

import statistics
import time

import requests

from bench import run_alone
from bench.cpu import CpuMeter, process_tree
from bench.measure import median_interval, pin_to_system_cpus, shown
from communication.synchronous.rest import RestTransport
from localmode.demo import LocalDemo
from localmode.netns import Network
from localmode.ports import Ports


def per_lookup(roots, idle_rate, lookup, count):
    """user-service's CPU ms per lookup over `count` lookups, its work per second taken out."""
    meter, started = CpuMeter(roots), time.monotonic()
    for n in range(count):
        lookup(n)
    return meter.ms_per(count) - idle_rate * (time.monotonic() - started) / count


def measure(workdir, size, count, rounds, idle_seconds, base):
    demo = LocalDemo(
        "discovery",
        workdir=workdir / "round-robin",
        ports=Ports.block(base),
        instances={"user-service": size},
        network=Network("mdrobin", "10.213.30.0/24"),
        service_env={"DISCOVERY": "client"},
    )
    rest = RestTransport()  # keeps a connection per instance, as order-service does
    with demo:
        instances = demo.instances_of("user-service")
        urls = [f"http://{p.address}:{p.env['PORT']}" for p in instances]
        requests.post(f"{urls[0]}/users", json={"name": "Alice"}, timeout=10).raise_for_status()
        roots = [p.popen.pid for p in instances]  # every instance; CpuMeter adds their workers
        for url in urls:  # warm-up: a connection to each, their pages in; every one finds Alice
            for _ in range(50):
                if rest.get_user(url, 1, {}) is None:
                    raise RuntimeError(f"{url} does not know user 1: the lookups would measure 404s")
        idle, started = CpuMeter(roots), time.monotonic()
        time.sleep(idle_seconds)  # the window in which the idle CPU is measured
        idle_rate = idle.ms_per(1) / (time.monotonic() - started)
        ways = {
            "one instance": lambda n: rest.get_user(urls[0], 1, {}),
            "round robin": lambda n: rest.get_user(urls[n % len(urls)], 1, {}),
        }
        samples = {way: [] for way in ways}
        for round_no in range(rounds):
            for way in list(ways)[:: 1 if round_no % 2 == 0 else -1]:
                samples[way].append(per_lookup(roots, idle_rate, ways[way], count))
        if process_tree(roots) != idle.pids:  # a process gone or new: CPU uncounted
            raise RuntimeError("user-service's processes changed during the rounds")
    ratios = [robin / one for robin, one in zip(samples["round robin"], samples["one instance"], strict=True)]
    return {
        "instances": size,
        "idle_ms_per_second": idle_rate,
        "one_instance_ms": statistics.median(samples["one instance"]),
        "round_robin_ms": statistics.median(samples["round robin"]),
        "ratio": statistics.median(ratios),
        "interval": shown(median_interval(ratios)),
        "rounds": rounds,
        "lookups": count,
    }


def run(short, workdir):
    size, count, rounds, idle = (3, 100, 2, 1) if short else (10, 2000, 12, 10)
    return measure(workdir, size, count, rounds, idle, base=21000)


def render(result):
    return "\n".join(
        [
            f"**Round robin or one instance**: user-service's CPU (all {result['instances']} instances) per "
            "lookup made with order-service's transport, all to one instance or round robin over all, the "
            f"same processes running; {result['rounds']} rounds of {result['lookups']} lookups each way, "
            "its CPU while idle taken out.",
            "",
            "| idle, ms per second | one instance, ms per lookup | round robin, ms per lookup | round robin / one |",
            "|--|--|--|--|",
            f"| {result['idle_ms_per_second']:.1f} | {result['one_instance_ms']:.3f} | {result['round_robin_ms']:.3f} "
            f"| {result['ratio']:.3f} ({result['interval']}) |",
            "",
        ]
    )


def main():
    pin_to_system_cpus()
    return run_alone(__doc__, run, render, "round_robin")


if __name__ == "__main__":
    raise SystemExit(main())
