"""CLUSTER=1 in compose (service-discovery/docker-compose.cluster.yml): three Consul servers,
three NATS servers, three app hosts whose services register with their host's agent; the Consul
leader and a NATS server stopped under a steady stream of orders."""

import threading
import time

import requests

from dockermode import compose as demos
from localmode.wait import wait_until

CLUSTER = {"CLUSTER": "1"}
ORDERS = "http://127.0.0.1:5002/orders"


def leader(env):
    """The raft leader's node name, as an app host's agent sees it ("" while there is none)."""
    peers = ["exec", "-T", "host-2", "consul", "operator", "raft", "list-peers"]
    out = demos.compose("discovery", *peers, env=env, check=False, capture=True).stdout
    return next((line.split()[0] for line in out.splitlines() if " leader " in f" {line} "), "")


def order_stream(seconds, fault=None, spacing=0.05):
    """Orders one after another for `seconds` (bounded in count too); `fault` starts after a
    second, in a thread of its own, so orders keep going while it happens. Returns the statuses."""
    statuses, start, injected = [], time.monotonic(), None
    with requests.Session() as session:
        for _ in range(int(seconds / spacing)):
            if time.monotonic() - start > seconds:
                break
            if fault and injected is None and time.monotonic() - start > 1:
                injected = threading.Thread(target=fault)
                injected.start()
            try:
                statuses.append(session.post(ORDERS, json={"user_id": 1, "item": "Book"}, timeout=10).status_code)
            except requests.RequestException:
                statuses.append(None)
            time.sleep(spacing)  # pacing of the stream, not a readiness wait
    if injected:
        injected.join(60)
    return statuses


def test_the_cluster_in_compose_loses_its_leader_and_a_broker_without_failing_an_order(compose_up, image_env):
    env = {**image_env, **CLUSTER}
    health = compose_up("discovery", **CLUSTER)
    assert set(health.values()) == {"healthy"} and len(health) == 18  # 3 + 3 servers, 3 hosts, 9 services
    nodes = requests.get("http://127.0.0.1:8500/v1/catalog/nodes", timeout=5).json()
    names = [*(f"consul-server-{n}" for n in (1, 2, 3)), *(f"host-{n}" for n in (1, 2, 3))]
    assert sorted(n["Node"] for n in nodes) == names

    # Every instance registered with its own host's agent: three user-services on three nodes.
    # Compose's "healthy" is the container's own check; the agent's check of the same instance
    # runs on its own 2-s interval and reaches the servers by anti-entropy, so wait for it.
    def passing_user_hosts():
        url = "http://127.0.0.1:8500/v1/health/service/user-service?passing=true"
        return sorted(e["Node"]["Node"] for e in requests.get(url, timeout=5).json())

    hosts = ["host-1", "host-2", "host-3"]
    wait_until(lambda: passing_user_hosts() == hosts, 30, "user-service passing on every host", interval=0.5)
    assert passing_user_hosts() == hosts
    assert requests.post("http://127.0.0.1:5001/users", json={"name": "Alice"}, timeout=10).status_code == 201

    # The leader stopped under the stream: a new one is elected, and no order fails.
    victim = leader(env)
    assert victim.startswith("consul-server-")
    statuses = order_stream(8, lambda: demos.compose("discovery", "stop", victim, env=env))
    wait_until(lambda: leader(env) not in ("", victim), 30, "a new leader", interval=0.5)
    failed = sum(s != 201 for s in statuses)
    print(f"\n[compose cluster] leader {victim} stopped; now {leader(env)}; orders {len(statuses)}, failed {failed}")
    assert statuses and all(s == 201 for s in statuses)
    demos.compose("discovery", "start", victim, env=env)

    # A NATS server stopped: orders go on, and every order's notification arrives once.
    statuses = order_stream(6, lambda: demos.compose("discovery", "stop", "nats-2", env=env))
    assert statuses and all(s == 201 for s in statuses)
    demos.compose("discovery", "start", "nats-2", env=env)
    orders = requests.get("http://127.0.0.1:5002/orders", timeout=10).json()

    def notified():
        seen = requests.get("http://127.0.0.1:5003/notifications", timeout=10).json()
        return len(seen) == len(orders) and len({n["order_id"] for n in seen}) == len(orders)

    wait_until(notified, 60, "a notification per order", interval=0.5)
    print(f"[compose cluster] nats-2 stopped under {len(statuses)} orders: {len(orders)} orders, as many notifications")
