"""Cost as the system grows: an order's p50 with 1, 3 and 10 user-service instances (each in a
network namespace of its own, at its own address), the discovery demos with the Consul catalog
grown to 100 other services of 3 instances each; and how long the cached view takes to follow a
change as the catalog grows.

    python -m bench.scaling [--short]     (make bench runs it after the paths)

Each flavour's sizes run at once and are measured in interleaved pairs against its 1-instance
demo (wrk, c=1, on a CPU of its own), so a ratio compares runs made next to each other. The
goal: p50 at the largest size ≤ 1.05× the 1-instance p50.
"""

import os
import statistics
import time

import requests

from bench import run_alone
from bench.cpu import CpuMeter, demo_roots
from bench.measure import decided, pin_to_system_cpus, verdict, wrk
from discovery.locators import ConsulLocator
from localmode.demo import LocalDemo
from localmode.netns import Network
from localmode.ports import Ports
from localmode.wait import wait_until

FLAVOURS = {
    # name: (demo, settings, the URL wrk orders at)
    "discovery-cached": ("discovery", {"DISCOVERY": "client"}, lambda d: d.order_url),
    "discovery-dns": ("discovery", {"DISCOVERY": "dns"}, lambda d: d.order_url),
    "gateway": (
        "gateway",
        {"GATEWAY_RATE_LIMIT": "1000000r/s", "GATEWAY_RATE_BURST": "1000000"},
        lambda d: d.gateway_url,
    ),
}
LIMIT = 1.05


def register_catalog(demo, services, first=0, instances=3):
    """Grow the demo's Consul catalog to `services` other services (from number `first` on) with
    `instances` entries each, registered through the agent like any service (no checks: passing)."""
    with requests.Session() as http:
        for s in range(first, services):
            for i in range(instances):
                entry = {
                    "ID": f"filler-{s}-{i}",
                    "Name": f"filler-{s}",
                    "Address": f"10.99.{s % 250}.{i + 1}",
                    "Port": 8000 + s // 250,
                }
                http.put(f"{demo.consul_url}/v1/agent/service/register", json=entry, timeout=10).raise_for_status()


def users_url(demo):
    """Where Alice is created: the gateway, or (instances in namespaces, one database) the first."""
    if demo.demo == "gateway":
        return demo.gateway_url
    first = demo.instances_of("user-service")[0]
    return f"http://{first.address}:{first.env['PORT']}"


def demos_for(flavour, sizes, catalog, workdir, base):
    kind, settings, _ = FLAVOURS[flavour]
    made = {}
    for n, size in enumerate(sizes):
        network = Network(f"mdbench{n}", f"10.213.{20 + n}.0/24")
        made[size] = LocalDemo(
            kind,
            workdir=workdir / f"{flavour}-{size}",
            ports=Ports.block(base + 1000 * n),
            instances={"user-service": size},
            network=network,
            service_env=settings,
        )
    return made


def measure_flavour(flavour, sizes, catalog, workdir, rounds, seconds, base):
    """{size: {"p50": ms, "cpu_ms": ..., "ratio": median vs size 1, "interval": ..., "pairs": n}}."""
    _, _, entry = FLAVOURS[flavour]
    systems = demos_for(flavour, sizes, catalog, workdir, base)
    started = []
    try:
        for size, demo in systems.items():
            started.append(demo.start())
            requests.post(f"{users_url(demo)}/users", json={"name": "Alice"}, timeout=10).raise_for_status()
            if demo.demo == "discovery" and size == sizes[-1]:
                register_catalog(demo, catalog)
        runs = {size: [] for size in sizes}
        pairs = {size: [] for size in sizes[1:]}

        def run(size):
            demo = systems[size]
            meter = CpuMeter(demo_roots(demo))
            result = wrk("POST", f"{entry(demo)}/orders", 1, seconds)
            result["cpu_ms"] = meter.ms_per(result["requests"])
            runs[size].append(result)
            return result

        for size in sizes:
            wrk("POST", f"{entry(systems[size])}/orders", 1, 1)  # warm-up
        for round_no in range(rounds):
            for size in sizes[1:]:
                first, second = (size, sizes[0]) if round_no % 2 else (sizes[0], size)
                results = {first: run(first), second: run(second)}
                pairs[size].append(results[size]["p50"] / results[sizes[0]]["p50"])
            largest = pairs[sizes[-1]]
            if round_no >= 7 and decided(verdict(largest, LIMIT)[2]):
                break
    finally:
        for demo in reversed(started):
            demo.stop()
    result = {}
    for size in sizes:
        result[size] = {
            "p50": statistics.median(r["p50"] for r in runs[size]),
            "cpu_ms": statistics.median(r["cpu_ms"] for r in runs[size]),
            "errors": sum(r["errors"] for r in runs[size]),
        }
        if size in pairs:
            value, interval, said = verdict(pairs[size], LIMIT)
            result[size].update(ratio=value, interval=interval, verdict=said, pairs=len(pairs[size]))
    return result


def view_follow_times(workdir, catalogs, changes, base):
    """Seconds from registering (and from deregistering) a user-service instance to the cached
    view having it (and not having it), with the catalog grown step by step: the locator
    order-service runs (its blocking-query watcher), against a real Consul agent."""
    demo = LocalDemo("discovery", workdir=workdir / "view-follow", ports=Ports.block(base))
    times = {}
    saved = os.environ.get("CONSUL_HTTP_ADDR")
    with demo:
        os.environ["CONSUL_HTTP_ADDR"] = f"127.0.0.1:{demo.ports.consul}"  # where the watcher asks
        try:
            locator = ConsulLocator("user-service")
            locator.start()
            grown = 0
            for services in catalogs:
                register_catalog(demo, services, first=grown)
                grown = services
                added, removed = [], []
                for n in range(changes):
                    moved = ("10.99.255.1", 9000 + n)
                    entry = {"ID": f"moved-{n}", "Name": "user-service", "Address": moved[0], "Port": moved[1]}
                    start = time.monotonic()
                    requests.put(f"{demo.consul_url}/v1/agent/service/register", json=entry, timeout=10)
                    seen = wait_until(lambda m=moved: m in locator.passing_instances(), 10, "the view", 0.001)
                    added.append(seen - start)
                    start = time.monotonic()
                    requests.put(f"{demo.consul_url}/v1/agent/service/deregister/moved-{n}", timeout=10)
                    gone = wait_until(lambda m=moved: m not in locator.passing_instances(), 10, "the view", 0.001)
                    removed.append(gone - start)
                times[services] = {
                    "added_p50_ms": statistics.median(added) * 1000,
                    "added_max_ms": max(added) * 1000,
                    "removed_p50_ms": statistics.median(removed) * 1000,
                    "removed_max_ms": max(removed) * 1000,
                }
        finally:
            if saved is None:
                os.environ.pop("CONSUL_HTTP_ADDR", None)
            else:
                os.environ["CONSUL_HTTP_ADDR"] = saved
    return times


def run(short, workdir):
    sizes, catalog, rounds, seconds = ([1, 3], 10, 1, 1) if short else ([1, 3, 10], 100, 16, 1)
    flavours = {
        flavour: measure_flavour(flavour, sizes, catalog, workdir, rounds, seconds, base=17000) for flavour in FLAVOURS
    }
    catalogs = [0, 10] if short else [0, 100, 1000]
    return {
        "sizes": sizes,
        "catalog": catalog,
        "flavours": flavours,
        "view_follow": view_follow_times(workdir, catalogs, 3 if short else 20, base=20000),
    }


def checks(growth):
    """The goal, per flavour: p50 at the largest size (and catalog) ≤ LIMIT × the 1-instance p50."""
    largest = growth["sizes"][-1]
    rows = []
    for flavour, sizes in growth["flavours"].items():
        r = sizes[largest]
        catalog = f", {growth['catalog']} services" if flavour.startswith("discovery") else ""
        rows.append(
            (
                f"{flavour} p50, {largest} instances{catalog} / 1 instance, c=1",
                f"{r['ratio']:.3f}",
                r["interval"],
                "-",
                f"≤ {LIMIT}",
                r["verdict"],
                str(r["pairs"]),
            )
        )
    return rows


def render(growth):
    sizes = growth["sizes"]
    head = " | ".join(f"p50 at {n} (×)" for n in sizes)
    lines = [
        f"**As the system grows**: an order's p50 (ms, c=1) with 1, {', '.join(map(str, sizes[1:]))} user-service "
        f"instances, each at an address of its own; the discovery demos' largest size with the Consul catalog "
        f"grown to {growth['catalog']} other services of 3 instances each. × is the median of paired runs "
        "against the 1-instance demo.",
        "",
        f"| flavour | {head} | CPU ms/order at {sizes[-1]} |",
        "|--|" + "--|" * (len(sizes) + 1),
    ]
    for flavour, r in growth["flavours"].items():
        cells = [f"{r[sizes[0]]['p50']:.2f}"] + [f"{r[n]['p50']:.2f} ({r[n]['ratio']:.2f}×)" for n in sizes[1:]]
        lines.append(f"| {flavour} | {' | '.join(cells)} | {r[sizes[-1]]['cpu_ms']:.3f} |")
    lines += [
        "",
        "The cached view following a change (a user-service instance registered, then deregistered), as the "
        "catalog grows: ms until the locator order-service runs has it, and has it no more.",
        "",
        "| other services in the catalog | added p50 | added max | removed p50 | removed max |",
        "|--|--|--|--|--|",
        *[
            f"| {services} | {t['added_p50_ms']:.1f} | {t['added_max_ms']:.1f} | {t['removed_p50_ms']:.1f} "
            f"| {t['removed_max_ms']:.1f} |"
            for services, t in growth["view_follow"].items()
        ],
        "",
    ]
    return "\n".join(lines)


def main():
    pin_to_system_cpus()
    return run_alone(__doc__, run, render, "scaling")


if __name__ == "__main__":
    raise SystemExit(main())
