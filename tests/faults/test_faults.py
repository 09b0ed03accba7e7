"""The seven practices of the outline, each shown under a real fault in real processes."""

import re
import signal
import socket
import threading
import time

import pytest
import requests

from .conftest import (
    FAST,
    concurrent_stream,
    create_alice,
    orders_by_key,
    place_order,
    stream,
    tally,
    wait_until,
)


def assert_nothing_lost(counts):
    assert counts["lost"] == 0
    assert counts["duplicated"] == 0
    assert counts["half_written"] == 0


def back(demo, user):
    """Restarted, and where callers find it: up, and in the discovery demo passing in Consul
    (both its HTTP and gRPC checks) rather than only answering its own /health."""
    user.start()
    user.wait_ready()
    if demo.demo == "discovery":
        demo.wait_passing("user-service", 1)


@pytest.mark.parametrize("user_api", ["rest", "grpc"])
@pytest.mark.parametrize("demo_name", ["gateway", "discovery"])
def test_1_user_service_killed_mid_stream(make_demo, demo_name, user_api):
    """503 fast while it is gone, the breaker opens, orders succeed again once it is back; over
    REST and over gRPC alike (USER_API), through the gateway and directly."""
    demo = make_demo(demo_name, USER_API=user_api)
    create_alice(demo)
    user = demo.processes["user-service"]
    outcomes = stream(
        demo.entry_urls["orders"],
        count=240,
        events={60: lambda: user.signal(signal.SIGKILL), 140: lambda: back(demo, user)},
        spacing=0.03,
    )
    counts = tally(f"1 user-service killed, {demo_name}, USER_API={user_api}", outcomes, demo)
    assert_nothing_lost(counts)
    outage = outcomes[60:140]
    assert all(o.status == 503 for o in outage)
    assert all(o.seconds < FAST for o in outage), max(o.seconds for o in outage)
    assert any("circuit open" in o.body.get("error", "") for o in outage)  # the breaker opened
    assert outcomes[-1].status == 201 and outcomes[-20:] == [o for o in outcomes[-20:] if o.status == 201]
    assert counts["succeeded"] >= 60 + 20


@pytest.mark.parametrize("user_api", ["rest", "grpc"])
def test_2_user_service_slow(make_demo, user_api):
    """A hung user-service (SIGSTOP): callers fail within the timeout (the gRPC deadline is the
    same read timeout); order-service stays healthy."""
    demo = make_demo("gateway", USER_API=user_api)  # USER_SERVICE_READ_TIMEOUT=1
    create_alice(demo)
    demo.processes["user-service"].signal(signal.SIGSTOP)
    try:
        health_times = []

        def probe_health():
            for _ in range(10):
                started = time.monotonic()
                ok = requests.get(f"{demo.order_url}/health", timeout=2).status_code == 200
                health_times.append((ok, time.monotonic() - started))
                time.sleep(0.2)  # spacing of the health probes

        prober = threading.Thread(target=probe_health)
        prober.start()
        # Each of order-service's 2 workers has its own breaker (5 failures): 14 orders open both,
        # however the gateway spreads them (without upstream keepalive, each lands anywhere).
        outcomes = stream(demo.entry_urls["orders"], count=14, spacing=0)
        prober.join(30)
    finally:
        demo.processes["user-service"].signal(signal.SIGCONT)
    counts = tally(f"2 user-service hung, USER_API={user_api}", outcomes, demo)
    assert_nothing_lost(counts)
    assert all(o.status == 503 for o in outcomes)
    slow = [o for o in outcomes if "did not answer" in o.body["error"]]
    assert slow and all(0.9 < o.seconds < 3 for o in slow)  # the 1 s read timeout, not nginx's 10 s
    assert any("circuit open" in o.body["error"] for o in outcomes)  # then it stops waiting at all
    assert all(ok and seconds < 0.5 for ok, seconds in health_times), health_times
    print(f"order-service /health while user-service hung: max {max(s for _, s in health_times) * 1000:.0f} ms")


def test_3_sigterm_under_load_leaves_consul_before_it_stops_listening(make_demo):
    demo = make_demo("discovery", instances={"user-service": 2})
    create_alice(demo)
    victim = demo.processes["user-service-2"]
    port = demo.instance_ports("user-service")[1]
    seen = {}

    def watch():
        start = time.monotonic()
        for _ in range(4000):  # and at most 20 s
            if time.monotonic() - start >= 20 or len(seen) == 2:
                break
            if "left_consul" not in seen and ("127.0.0.1", port) not in demo.passing("user-service"):
                seen["left_consul"] = time.monotonic()
            with socket.socket() as s:
                if "stopped_listening" not in seen and s.connect_ex(("127.0.0.1", port)) != 0:
                    seen["stopped_listening"] = time.monotonic()
            time.sleep(0.005)  # sampling interval of the observer

    observer = threading.Thread(target=watch)
    stopper = threading.Timer(1.5, victim.stop)
    observer.start()
    stopper.start()
    outcomes = concurrent_stream(lambda: demo.order_url, seconds=5, concurrency=4)
    stopper.join()
    observer.join(30)
    counts = tally("3 SIGTERM under load", outcomes, demo)
    assert_nothing_lost(counts)
    assert victim.popen.returncode == 0  # a clean, graceful exit
    assert counts["succeeded"] == counts["sent"] > 50
    gap = seen["stopped_listening"] - seen["left_consul"]
    print(f"left Consul's passing results {gap * 1000:.0f} ms before it stopped listening")
    assert gap > 0


def test_4_registry_down_serves_known_instances_then_503(make_demo):
    """The doc's "Registry down = no new discovery": known instances for CONSUL_STALE_SECONDS, then 503."""
    demo = make_demo("discovery", CONSUL_STALE_SECONDS="4")
    create_alice(demo)
    consul = demo.processes["consul"]
    outcomes = stream(demo.order_url, count=1000, events={20: consul.stop}, spacing=0.05, deadline=9)
    counts = tally("4 Consul stopped, stale limit 4 s", outcomes, demo)
    assert_nothing_lost(counts)
    served = [o for o in outcomes[20:] if o.status == 201]
    refused = [o for o in outcomes[20:] if o.status == 503]
    assert served and refused and served[-1].at < refused[0].at  # first serving, then refusing
    stop_at = outcomes[20].at
    print(
        f"Consul stopped: orders kept succeeding for {served[-1].at - stop_at:.1f}s, "
        f"first 503 after {refused[0].at - stop_at:.1f}s"
    )
    assert 3.5 <= refused[0].at - stop_at <= 5.5
    assert "consul unreachable" in refused[0].body["error"]
    assert all(any(why in o.body["error"] for why in ("consul unreachable", "circuit open")) for o in refused)
    assert all(o.seconds < FAST for o in refused)

    consul.start()
    consul.wait_ready()
    demo.wait_passing("user-service", 1, timeout=15)  # the services re-register themselves
    wait_until(lambda: place_order(requests, demo.order_url).status == 201, 15, "orders to succeed again")


def test_5_gateway_down_is_all_down_while_discovery_keeps_working(make_demo):
    gateway = make_demo("gateway")
    discovery = make_demo("discovery")
    for demo in (gateway, discovery):
        create_alice(demo)
    gateway.processes["api-gateway"].stop()
    # Under the same fault the discovery demo has nothing to stop: no component sits on every path.
    results = {}
    for name, demo in (("gateway", gateway), ("discovery", discovery)):
        outcomes = stream(demo.entry_urls["orders"], count=50, spacing=0)
        counts = tally(f"5 nginx stopped, {name} demo", outcomes, demo)
        assert counts["lost"] == counts["duplicated"] == counts["half_written"] == 0
        results[name] = counts
    assert results["gateway"]["succeeded"] == 0 and results["gateway"]["sent"] == 50
    assert results["discovery"]["succeeded"] == 50
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{gateway.gateway_url}/users/1", timeout=5)  # reads too: all down
    assert requests.get(f"{discovery.user_url}/users/1", timeout=5).status_code == 200


def test_6_retried_posts_with_one_key_make_one_order(make_demo):
    """At least 1,000 client retries after timeouts; exactly one order per key."""
    demo = make_demo("gateway")
    create_alice(demo)
    retries, keys, finals = 0, 0, {}
    start = time.monotonic()
    with requests.Session() as session:
        while retries < 1000 and keys < 3000 and time.monotonic() - start < 150:
            # The first wait is shorter than any order takes, so on a fast machine too the
            # first try times out mid-flight; each retry waits twice as long.
            key, timeout, attempts = f"k-{keys}", 0.0005, 0
            keys += 1
            while attempts < 12:
                attempts += 1
                outcome = place_order(session, demo.gateway_url, key=key, timeout=timeout)
                if outcome.status:
                    break
                timeout *= 2  # the client waits longer each time, as real clients back off
            retries += attempts - 1
            finals[key] = outcome
    rows = orders_by_key(demo)
    duplicated = sum(n - 1 for n in rows.values() if n > 1)
    answered = [k for k, o in finals.items() if o.status == 201]
    print(f"\n[6 idempotent retries] keys={keys} retries={retries} orders={sum(rows.values())} duplicated={duplicated}")
    assert retries >= 1000
    assert duplicated == 0
    assert all(rows.get(k) == 1 for k in answered) and len(answered) == keys
    assert sum(rows.values()) == keys


def test_7_rolling_restart_of_both_services(make_demo):
    """Two instances of each service; restart them one by one (deregister, drain, SIGTERM, start)
    at concurrency 8. The client finds order-service through Consul too."""
    demo = make_demo("discovery", instances={"user-service": 2, "order-service": 2})
    create_alice(demo)
    order_instances = {"view": demo.passing("order-service")}
    turn = iter(range(10**9))

    def refresh():
        deadline = time.monotonic() + 180  # the roll's 60 s stream, its joins, and margin
        for _ in range(3600):
            if done.is_set() or time.monotonic() >= deadline:
                break
            order_instances["view"] = demo.passing("order-service") or order_instances["view"]
            time.sleep(0.05)  # the client's refresh of its view of order-service

    def pick():
        view = order_instances["view"]
        host, port = view[next(turn) % len(view)]
        return f"http://{host}:{port}"

    done = threading.Event()
    refresher = threading.Thread(target=refresh)
    refresher.start()

    def roll():
        time.sleep(1)  # let the stream get going
        for name, service in [
            ("user-service", "user-service"),
            ("user-service-2", "user-service"),
            ("order-service", "order-service"),
            ("order-service-2", "order-service"),
        ]:
            demo.restart(name)
            demo.wait_passing(service, 2, timeout=20)
        time.sleep(1)  # keep the load on a moment after the last restart
        roller_done.set()

    roller_done = threading.Event()
    roller = threading.Thread(target=roll)
    roller.start()
    try:
        outcomes = concurrent_stream(pick, seconds=60, concurrency=8, until=roller_done.is_set)
    finally:
        roller.join(60)
        done.set()
        refresher.join(5)
    assert roller_done.is_set()
    counts = tally("7 rolling restart, concurrency 8", outcomes, demo)
    assert_nothing_lost(counts)
    assert counts["succeeded"] == counts["sent"] > 100


def test_8_registry_down_for_60s_known_instances_keep_working(make_demo):
    demo = make_demo("discovery")  # default CONSUL_STALE_SECONDS=300
    create_alice(demo)
    assert tally("8 before the outage", stream(demo.order_url, count=10), demo)["succeeded"] == 10
    demo.processes["consul"].stop()
    outcomes = stream(demo.order_url, count=10_000, spacing=0.1, deadline=60)
    counts = tally("8 Consul stopped for 60 s", outcomes, demo)
    assert_nothing_lost(counts)
    assert outcomes[-1].at >= 59
    assert counts["succeeded"] == counts["sent"] >= 400


def test_9_registry_down_the_load_balancer_keeps_its_last_upstream(make_demo):
    """DISCOVERY=server: with Consul away, consul-template keeps nginx and the upstream it last
    rendered, however long that is (by default it gives up after 12 attempts, about 4 minutes,
    and takes nginx with it), and follows Consul again once it is back, though the dev agent
    starts its index over (a blocking query waits 60 s by default for an index it has not reached)."""
    demo = make_demo("discovery", DISCOVERY="server")
    create_alice(demo)
    consul, balancer = demo.processes["consul"], demo.processes["load-balancer"]

    def retries():
        return balancer.log_path.read_text(errors="replace").count("retry attempt")

    def index_passed():
        """The highest index a finished blocking query of consul-template's had asked for."""
        query = r"Request finished: .*/health/service/user-service\?index=(\d+)"
        finished = re.findall(query, consul.log_path.read_text())
        return max(map(int, finished), default=0)

    def move_index_on():
        """Two writes that move user-service's index on and leave its passing set alone: an instance on a
        node of its own, registered critical and deregistered."""
        service = {"ID": "index-mover", "Service": "user-service", "Port": 9}
        check = {"CheckID": "index-mover", "ServiceID": "index-mover", "Name": "never passes", "Status": "critical"}
        node = {"Node": "index-mover", "Address": "127.0.0.9"}
        for verb, body in ("register", {**node, "Service": service, "Check": check}), ("deregister", node):
            requests.put(f"{demo.consul_url}/v1/catalog/{verb}", json=body, timeout=2).raise_for_status()

    # The dev agent forgets its index when it stops. Make the one consul-template last saw one the
    # restarted agent will not reach during this test (it gets to about 30).
    wait_until(lambda: move_index_on() or index_passed() >= 60, 15, "consul-template to see index 60")
    consul.stop()
    # Past consul-template's default of 12 attempts (settings: service-discovery/load-balancer).
    wait_until(lambda: retries() > 12, 30, "consul-template to retry more than 12 times")
    assert balancer.running
    counts = tally("9 Consul stopped, server-side discovery", stream(demo.order_url, count=20), demo)
    assert counts["succeeded"] == counts["sent"] == 20

    consul.start()
    consul.wait_ready()
    demo.wait_passing("user-service", 1, timeout=15)
    # The dev agent comes back with an empty catalog: the services register again, and the broker
    # is there from the agent's configuration (as compose's nats.json), for the instance added next.
    demo.wait_passing("nats", 1, timeout=15)
    added = demo.add_instance("user-service")  # a change it can only learn from Consul
    demo.wait_passing("user-service", 2, timeout=15)
    upstream = demo.workdir / "load-balancer" / "conf.d" / "user-service.conf"
    wait_until(lambda: f":{added.env['PORT']};" in upstream.read_text(), 15, "the upstream to list the new instance")
    assert tally("9 Consul back", stream(demo.order_url, count=10), demo)["succeeded"] == 10
