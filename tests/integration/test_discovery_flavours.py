"""The doc's three questions, for each way to discover (DISCOVERY=client|dns|server): several
instances, each in a network namespace at its own IP, one killed, one back at a new IP, one more
added. Real processes, bounded loops."""

import ipaddress
import json
import subprocess
import time
import uuid

import pytest
import requests

from localmode.demo import LocalDemo
from localmode.programs.consul import lookups_logged
from localmode.wait import wait_until

from ..conftest import TEST_PORTS
from .conftest import Load, new_network

FAST_CHECKS = {"CONSUL_CHECK_INTERVAL": "1s", "CONSUL_CHECK_TIMEOUT": "500ms"}


def lookups_per_instance(demo):
    """How many user lookups each user-service instance served, from its own access log."""
    counts = {}
    for name, process in demo.processes.items():
        if not name.startswith("user-service") or not process.log_path.exists():
            continue
        lines = [json.loads(x) for x in process.log_path.read_text().splitlines() if x.startswith('{"ts')]
        counts[name] = sum(1 for e in lines if e.get("path") == "/users/1" and e.get("method") == "GET")
    return counts


class OrderStream(Load):
    """Orders from 2 threads until stopped (bounded: 60 s, 20,000 orders); records failures."""

    def __init__(self, demo):
        super().__init__([(), ()])
        self.url = f"{demo.order_url}/orders"
        self.sent, self.failed = 0, []

    def run(self):
        start = time.monotonic()
        with requests.Session() as http:
            while not self.stop_flag.is_set() and time.monotonic() - start < 60 and self.sent < 20_000:
                key = uuid.uuid4().hex
                response = http.post(
                    self.url, json={"user_id": 1, "item": "Book"}, headers={"Idempotency-Key": key}, timeout=15
                )
                with self.lock:
                    self.sent += 1
                    if response.status_code != 201:
                        self.failed.append((time.monotonic(), response.status_code, response.text))


def last_sent_to(demo, flavour, address):
    """Wall-clock time of the last call sent to `address` ("ip:port"): from the load balancer's
    access log (server-side), or from order-service's failed lookups (client, dns); 0 if none."""
    if flavour == "server":
        log, field = demo.processes["load-balancer"].log_path, "msec"
        matches = lambda e: address in e.get("upstream", "")  # noqa: E731
    else:
        log, field = demo.processes["order-service"].log_path, "ts"
        matches = lambda e: e.get("msg") == "user lookup failed" and address in e.get("error", "")  # noqa: E731
    times = [0.0]
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if matches(entry):
                times.append(entry[field])
    return max(times)


@pytest.mark.parametrize("flavour", ["client", "dns", "server"])
def test_three_instances_one_killed_one_moved_one_added(flavour, tmp_path):
    demo = LocalDemo(
        "discovery",
        workdir=tmp_path,
        ports=TEST_PORTS,
        instances={"user-service": 3},
        service_env={"DISCOVERY": flavour, **FAST_CHECKS},
        network=new_network(),
    )
    with demo:
        requests.post(f"{demo.order_url}/orders", json={"user_id": 1, "item": "x"}, timeout=5)  # warm the view
        first = demo.processes["user-service"]
        requests.post(
            f"http://{first.address}:{first.env['PORT']}/users", json={"name": "Alice"}, timeout=5
        ).raise_for_status()
        assert sorted(demo.passing("user-service")) == demo.addresses("user-service")  # 3 IPs, one port

        # 1. Several instances: every one of them gets traffic.
        with OrderStream(demo) as warmup:
            wait_until(lambda: min(lookups_per_instance(demo).values()) >= 5, 20, "traffic on all 3 instances")
        assert not warmup.failed

        # 2. One killed (no deregistration): Consul's check finds out, traffic moves on.
        with OrderStream(demo) as stream:
            wait_until(lambda: stream.sent >= 20, 10, "the stream to run before the fault")
            victim = demo.processes["user-service-2"]
            dead = (victim.address, int(victim.env["PORT"]))
            killed_at, killed = time.time(), time.monotonic()
            demo.kill("user-service-2")
            left = wait_until(lambda: dead not in demo.passing("user-service"), 10, "Consul")
            served_before = lookups_per_instance(demo)
            time.sleep(1.0)  # traffic after convergence, to show no more is lost
        registry_seconds = left - killed
        converged = max(0.0, last_sent_to(demo, flavour, f"{dead[0]}:{dead[1]}") - killed_at)
        failure_rate = len(stream.failed) / stream.sent
        print(
            f"\n[{flavour}] killed 1 of 3: Consul dropped it after {registry_seconds:.2f}s, last call sent to it "
            f"{converged:.2f}s after the kill; {stream.sent} orders, {len(stream.failed)} failed ({failure_rate:.2%})"
        )
        assert registry_seconds <= 1.0 + 0.5 + 0.5  # one check interval plus its timeout, plus polling
        assert converged <= registry_seconds + 0.5  # the flavour follows the registry at once
        assert failure_rate <= 0.001, stream.failed[:3]
        assert lookups_per_instance(demo)["user-service"] > served_before["user-service"]

        # 3. It comes back at a new IP, and gets traffic there.
        served = lookups_per_instance(demo).get("user-service-2", 0)
        moved = demo.restart("user-service-2")
        up = time.monotonic()
        demo.wait_passing("user-service", 3, timeout=15)
        with OrderStream(demo) as stream:
            found = wait_until(lambda: lookups_per_instance(demo)[moved.name] >= served + 3, 20, "the moved one")
        print(f"[{flavour}] back at {moved.address} (was {dead[0]}): traffic there {found - up:.2f}s after it was up")
        assert moved.address != dead[0]
        assert not stream.failed

        # 4. One more: four instances, all serving.
        added = demo.add_instance("user-service")
        demo.wait_passing("user-service", 4, timeout=15)
        with OrderStream(demo) as stream:
            wait_until(lambda: lookups_per_instance(demo).get(added.name, 0) >= 3, 20, "the added instance")
        assert not stream.failed
        assert len(demo.passing("user-service")) == 4


def test_consul_dns_answers_srv_for_passing_instances_at_their_own_ips(tmp_path):
    with LocalDemo(
        "discovery", workdir=tmp_path, ports=TEST_PORTS, instances={"user-service": 2}, network=new_network()
    ) as demo:
        out = subprocess.run(
            ["dig", "@127.0.0.1", "-p", str(demo.ports.consul_dns), "user-service.service.consul", "SRV", "+short"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        # "1 1 15001 0a0d0102.addr.dc1.consul.": priority, weight, port, target (the IP in hex)
        answers = sorted(
            (str(ipaddress.IPv4Address(bytes.fromhex(target.split(".")[0]))), int(port))
            for _, _, port, target in (line.split() for line in out.splitlines())
        )
        assert answers == demo.addresses("user-service")


def test_client_side_view_costs_no_consul_request_per_order(tmp_path):
    """The cached client-side view: in steady state, orders cause no Consul requests at all."""
    with LocalDemo("discovery", workdir=tmp_path, ports=TEST_PORTS) as demo:
        requests.post(f"{demo.user_url}/users", json={"name": "Alice"}, timeout=5).raise_for_status()
        consul_log = demo.workdir / "logs" / "consul.log"
        with requests.Session() as http:
            for _ in range(5):  # both workers have started their watch
                http.post(f"{demo.order_url}/orders", json={"user_id": 1, "item": "Book"}, timeout=5)
            before = lookups_logged(consul_log.read_text())
            for _ in range(200):
                assert http.post(f"{demo.order_url}/orders", json={"user_id": 1, "item": "Book"}, timeout=5).ok
            after = lookups_logged(consul_log.read_text())
        print(f"\n200 orders, {after - before} Consul health queries")
        assert before >= 1  # the view's first query is in the log: a query per order would be too
        assert after - before == 0
