"""Cluster tests: the discovery demo with CLUSTER=1 (three Consul servers, an agent per app host,
three NATS servers, hosts as network namespaces; root), real faults under a steady order stream.

One cluster serves the whole module (it takes some seconds to start); before each test it is made whole
again (every server running, every host linked, a leader, every instance passing), so a test that
failed halfway leaves nothing broken for the next. Ports, network and subnet are the tests' own.
"""

import json
import threading
import time

import dns.resolver
import pytest
import requests

from localmode.cluster import ClusterDemo
from localmode.netns import Network
from localmode.ports import Ports
from localmode.process import http_ok
from localmode.programs import services
from localmode.wait import wait_until

from ..faults.conftest import FAST_SETTINGS, place_order
from ..integration.conftest import Load

pytestmark = pytest.mark.integration

# The tests' own block (30000-30900) and their own network: a running demo never collides.
CLUSTER_PORTS = Ports.block(30000)
ROUTE_PORT = 31222  # NATS cluster routes
# The relay's pause after a failed publish doubles up to BROKER_MAX_BACKOFF_SECONDS (5 s by
# default): 1 s keeps c2's pause JetStream's election, not the relay's next try up to 5 s later.
MESSAGING = {"MAX_DELIVERIES": "3", "BROKER_RECONNECT_ATTEMPTS": "4", "BROKER_MAX_BACKOFF_SECONDS": "1"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    demo = ClusterDemo(
        workdir=tmp_path_factory.mktemp("cluster"),
        ports=CLUSTER_PORTS,
        network=Network("mdclt", "10.213.101.0/24"),
        nats_route_port=ROUTE_PORT,
        service_env={**FAST_SETTINGS, **MESSAGING},
    )
    started = time.monotonic()
    try:
        demo.start()
        took = time.monotonic() - started
        print(f"\n[cluster] 3 Consul servers, 3 agents, 3 NATS servers, 9 instances: up in {took:.1f} s")
        response = requests.post(f"{demo.user_url}/users", json={"name": "Alice"}, timeout=10)
        assert response.status_code == 201, response.text
        yield demo
    finally:
        demo.stop()


@pytest.fixture
def whole(cluster):
    """The cluster, made whole before the test: every program running, every host linked, a
    leader, three of each service passing."""
    for host in cluster.app_hosts:
        cluster.reconnect(host)
    for process in cluster.processes.values():
        if not process.running:
            process.start()
    for process in cluster.processes.values():
        process.wait_ready()
    wait_until(lambda: all(cluster.leader(cluster.agent_url(h)) for h in cluster.app_hosts), 30, "a leader")
    for service in ("nats", *services.SERVICES):
        cluster.wait_passing(service, 3, timeout=60)
    return cluster


class OrderStream(Load):
    """Orders, each with its own Idempotency-Key, from `threads` threads, round-robin over the
    URLs `urls()` gives, until the with-block ends (bounded: `max_seconds`, `max_orders`)."""

    def __init__(self, urls, threads=2, spacing=0.02, max_seconds=120, max_orders=8000):
        self.urls, self.spacing, self.max_seconds, self.max_orders = urls, spacing, max_seconds, max_orders
        self.outcomes = []
        self.started = time.monotonic()
        super().__init__([(n,) for n in range(threads)])

    def run(self, number):
        turn = number
        with requests.Session() as session:
            while (
                not self.stop_flag.is_set()
                and time.monotonic() - self.started < self.max_seconds
                and len(self.outcomes) < self.max_orders
            ):
                urls = self.urls()
                turn += 1
                outcome = place_order(session, urls[turn % len(urls)], started=self.started)
                with self.lock:
                    self.outcomes.append(outcome)
                time.sleep(self.spacing)  # the stream's pace, not a readiness wait

    @property
    def failed(self):
        return [o for o in self.outcomes if o.status != 201]

    def __enter__(self):
        self.started = time.monotonic()
        return super().__enter__()


class DiscoveryProbe:
    """Asks every app host's agent, every `every` seconds until the with-block ends, for the
    passing user-service instances: over HTTP (stale reads allowed: any server may answer) and
    over DNS (an SRV query). Keeps (seconds since start, host, kind, instances or None).
    Bounded: `max_seconds`, and 1 s per query."""

    def __init__(self, demo, every=0.2, max_seconds=120):
        self.demo, self.every, self.max_seconds = demo, every, max_seconds
        self.answers = []
        self.retried = []  # (kind, where) of the queries that needed their second try
        self.stop_flag = threading.Event()
        self.crashed = None
        self.thread = threading.Thread(target=self.run)

    def run(self):
        try:
            self.ask_until_stopped()
        except BaseException as exc:  # told at the with-block's end: a dead probe proves nothing
            self.crashed = exc
            raise

    def ask_until_stopped(self):
        start = time.monotonic()
        resolvers = {}
        for host in self.demo.app_hosts:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers, resolver.port, resolver.lifetime = [host.address], self.demo.ports.consul_dns, 1.0
            resolvers[host.name] = resolver
        for _ in range(int(self.max_seconds / self.every)):  # and at most max_seconds
            if self.stop_flag.is_set() or time.monotonic() - start >= self.max_seconds:
                break
            for host in self.demo.app_hosts:
                at = time.monotonic() - start
                self.answers.append((at, host.name, "http", self.http(host)))
                self.answers.append((at, host.name, "dns", self.dns(resolvers[host.name])))
            time.sleep(self.every)  # the probe's pace

    def http(self, host):
        """As a client of the HTTP API does: an error is asked again once, at once (the agent
        sends a stale read to any server; one that has just stopped fails it, and the agent
        moves on to another). The first tries that failed are counted apart (asked_again)."""
        url = f"{self.demo.agent_url(host)}/v1/health/service/user-service?passing=true&stale"
        for attempt in range(2):
            ok, body = http_ok(url, 1.0)
            if ok:
                return len(json.loads(body))
            if not attempt:
                self.retried.append(("http", host.name))
        return None

    def dns(self, resolver):
        """An SRV query, asked again once on an error, as a resolver does."""
        for attempt in range(2):
            try:
                return len(resolver.resolve("user-service.service.consul", "SRV"))
            except Exception:  # SERVFAIL, a timeout: asked again, then counted as unanswered
                if not attempt:
                    self.retried.append(("dns", resolver.nameservers[0]))
        return None

    def asked_again(self, kind):
        return sum(1 for k, _ in self.retried if k == kind)

    def unanswered(self, kind):
        return [a for a in self.answers if a[2] == kind and not a[3]]

    def count(self, kind):
        return sum(1 for a in self.answers if a[2] == kind)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(30)
        if exc[0] is None:
            assert self.crashed is None, f"the discovery probe crashed: {self.crashed!r}"
            assert self.count("http") and self.count("dns"), "the discovery probe asked nothing"


def lookups_served(demo, name, since):
    """GET /users/<id> requests instance `name` answered after wall-clock `since` (its log)."""
    served = 0
    for line in (demo.workdir / "logs" / f"{name}.log").read_text(errors="replace").splitlines():
        if '"msg": "request"' in line:
            entry = json.loads(line)
            served += entry["ts"] >= since and entry["method"] == "GET" and entry["path"].startswith("/users/")
    return served
