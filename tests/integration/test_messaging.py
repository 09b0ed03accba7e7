"""The asynchronous half end to end, with a real NATS server: an order's event reaches
notification-service, one request ID shows the whole trip through HTTP and the broker, a second
subscriber replays the history, and the discovery demo follows a broker that moves."""

import asyncio
import dataclasses
import json
import subprocess
import sys
import uuid

import nats as nats_client
import requests

from communication.asynchronous import replay
from communication.asynchronous.events import Event
from localmode.process import ROOT, Process, http_ok
from localmode.programs import nats
from localmode.programs.binaries import built_binary
from localmode.wait import wait_until
from servicekit.db import MAX_WAIT

from .conftest import post_json


def log_entries(demo, name):
    path = demo.workdir / "logs" / f"{name}.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def notifications(demo, user_id=1, wait=5):
    url = f"http://127.0.0.1:{demo.ports.notification}/notifications?user_id={user_id}&wait={wait}"
    return requests.get(url, timeout=wait + 5).json()


def test_one_request_id_shows_the_whole_trip_through_http_and_the_broker(gateway_demo, http):
    gw = gateway_demo.gateway_url
    post_json(http, f"{gw}/users", {"name": "Alice"})
    trip = uuid.uuid4().hex
    order = post_json(http, f"{gw}/orders", {"user_id": 1, "item": "Book"}, headers={"X-Request-ID": trip})
    assert order.status_code == 201
    shown = http.get(f"{gw}/notifications?user_id=1&wait=5", timeout=10).json()
    assert shown == [{"id": 1, "user_id": 1, "order_id": 1, "message": "Alice, your order 1 (Book) was received"}]

    def seen(name, msg):
        return [e for e in log_entries(gateway_demo, name) if e.get("request_id") == trip and e.get("msg") == msg]

    # The gateway, order-service's request, the lookup at user-service, the notification made
    # from the event: all under the one ID that came with the order.
    wait_until(lambda: seen("notification-service", "notified"), 10, "notification-service's log line")
    assert seen("order-service", "request") and seen("user-service", "request")
    assert seen("notification-service", "event handled")
    assert [e["notification"] for e in seen("notification-service", "notified")] == [shown[0]["message"]]


def test_notification_api_answers_json_errors(gateway_demo, http):
    base = f"http://127.0.0.1:{gateway_demo.ports.notification}"
    for query, status in [
        ("user_id=abc", 422),
        ("user_id=0", 422),
        (f"wait={MAX_WAIT + 1}", 422),
        ("colour=blue", 422),
        ("user_id=1", 200),
    ]:
        response = http.get(f"{base}/notifications?{query}", timeout=5)
        assert response.status_code == status, (query, response.text)
        assert response.headers["Content-Type"].startswith("application/json")
    # The longest wait ends in the service's answer, not the gateway's read timeout (a 504).
    longest = http.get(f"{gateway_demo.gateway_url}/notifications?user_id=99&wait={MAX_WAIT}", timeout=MAX_WAIT + 5)
    assert longest.status_code == 200 and longest.json() == []
    missing = http.get(f"{base}/notifications/999", timeout=5)
    assert missing.status_code == 404 and missing.json() == {"error": "notification 999 not found"}
    health = http.get(f"{gateway_demo.order_url}/health", timeout=5).json()
    assert health["broker"] == "connected" and health["outbox_depth"] == 0


def test_a_second_subscriber_added_later_reads_the_whole_history(gateway_demo, http):
    """Fan-out and replay: a subscriber that did not exist when the events were published reads
    them all, and notification-service's own consumer goes on as before."""
    gw = gateway_demo.gateway_url
    post_json(http, f"{gw}/users", {"name": "Alice"})
    for item in ("Book", "Pen", "Lamp"):
        assert post_json(http, f"{gw}/orders", {"user_id": 1, "item": item}).status_code == 201
    wait_until(lambda: len(notifications(gateway_demo, wait=0)) == 3, 10, "three notifications")
    replay = [sys.executable, "-m", "communication.asynchronous.replay", "--server", gateway_demo.nats_url]
    for _ in range(2):  # as often as you like: each run is a new subscriber from the first event
        out = subprocess.run(replay, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0] == "ORDERS: 3 message(s), read from the first by a new subscriber"
        assert [json.loads(line.split(None, 2)[2])["item"] for line in lines[1:]] == ["Book", "Pen", "Lamp"]
    assert post_json(http, f"{gw}/orders", {"user_id": 1, "item": "Cup"}).status_code == 201
    wait_until(lambda: len(notifications(gateway_demo, wait=0)) == 4, 10, "the next notification")
    # Either of its two workers answers /health (a new connection each time), only one does the
    # messaging; both show the consumer's counts, kept in the database with the notifications.
    health = f"http://127.0.0.1:{gateway_demo.ports.notification}/health"
    counts = {"handled": 4, "duplicates": 0, "retried": 0, "dead_lettered": 0}
    assert [requests.get(health, timeout=5).json()["consumers"] for _ in range(10)] == [
        {"notification-service": counts}
    ] * 10


def test_the_discovery_demo_finds_the_broker_in_consul_and_follows_it_when_it_moves(discovery_demo, http):
    post_json(http, f"{discovery_demo.user_url}/users", {"name": "Alice"})
    assert post_json(http, f"{discovery_demo.order_url}/orders", {"user_id": 1, "item": "Book"}).status_code == 201
    assert len(notifications(discovery_demo)) == 1
    assert discovery_demo.passing("nats") == [("127.0.0.1", discovery_demo.ports.nats)]

    # The broker moves: stopped, and started again on another port, where Consul now lists it.
    discovery_demo.processes["nats"].stop()
    discovery_demo.ports = dataclasses.replace(discovery_demo.ports, nats=discovery_demo.ports.nats + 7)
    moved = discovery_demo.processes["nats"] = nats.server(discovery_demo)
    moved.start()
    moved.wait_ready()
    # Its definition rewritten at the new port (for the agent's next start) and registered with the
    # running agent under the same id. (A `consul reload` would also do, but a dev agent keeps no
    # API registrations across it: the services would be gone until they register again.)
    definition = json.loads(nats.consul_definition(discovery_demo).read_text())["service"]
    requests.put(
        f"{discovery_demo.consul_url}/v1/agent/service/register", json=definition, timeout=10
    ).raise_for_status()
    discovery_demo.wait_passing("nats", 1)
    assert discovery_demo.passing("nats") == [("127.0.0.1", discovery_demo.ports.nats)]

    assert post_json(http, f"{discovery_demo.order_url}/orders", {"user_id": 1, "item": "Pen"}).status_code == 201
    moved_on = "the order's notification, through the moved broker"
    wait_until(lambda: len(notifications(discovery_demo, wait=0)) == 2, 60, moved_on)
    assert [n["message"] for n in notifications(discovery_demo)][-1] == "Alice, your order 2 (Pen) was received"


def bare_nats_server(tmp_path, port, monitor, *flags):
    """A nats-server of a test's own, not a demo's, on loopback (flags: -js ... to add)."""
    return Process(
        name="nats",
        argv=[built_binary("nats-server"), *flags, "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor)],
        log_path=tmp_path / "nats.log",
        ready=lambda: http_ok(f"http://127.0.0.1:{monitor}/healthz")[0],
        port=port,
    )


def test_a_broker_without_jetstream_costs_one_connection_not_one_per_attempt(tmp_path):
    """A NATS server without JetStream: every connection attempt fails when ensuring the streams;
    each must close its connection, not leave it open (and its callbacks live) beside the next."""
    port, monitor = 15711, 15811
    server = bare_nats_server(tmp_path, port, monitor)
    database = tmp_path / "service.sqlite3"
    probe = (
        "import sys, time\n"
        "from communication.asynchronous.broker import Broker\n"
        "class At:\n"
        f"    def urls(self): return ['nats://127.0.0.1:{port}']\n"
        f"Broker(At(), {str(database)!r}, name='probe').start()\n"
        "time.sleep(60)  # the broker thread tries meanwhile; the test stops this first\n"
    )
    server.start()
    service = None
    try:
        server.wait_ready()
        service = subprocess.Popen([sys.executable, "-c", probe], cwd=ROOT)
        status = tmp_path / "service.sqlite3.messaging.json"

        def attempts():
            state = json.loads(status.read_text()).get("state", "") if status.exists() else ""
            return int(state.rsplit(" ", 1)[1]) if state.startswith("unreachable") else 0

        wait_until(lambda: attempts() >= 5, 30, "five failed attempts to connect")
        connections = json.loads(http_ok(f"http://127.0.0.1:{monitor}/connz")[1])["num_connections"]
        assert connections <= 1, f"{connections} connections open after {attempts()} attempts"
    finally:
        if service:
            service.kill()
            service.wait()
        server.stop()


def test_the_replay_reads_what_is_kept_when_the_newest_messages_are_gone(tmp_path, capsys):
    """`make events` after the stream's last message was deleted, and after a purge: what is
    still kept, and then 0 messages, instead of waiting for a sequence that never comes."""
    port, monitor = 15712, 15812
    server = bare_nats_server(tmp_path, port, monitor, "-js", "-sd", str(tmp_path))
    url = f"nats://127.0.0.1:{port}"

    async def on_stream(work):
        nc = await nats_client.connect(url, connect_timeout=2, max_reconnect_attempts=1)
        try:
            js = nc.jetstream()
            return await work(js)
        finally:
            await nc.close()

    async def three_orders(js):
        await js.add_stream(name="ORDERS", subjects=["orders.>"])
        for order_id in (1, 2, 3):
            await js.publish("orders.created", Event("order.created", {"order_id": order_id}).body())
        await js.delete_msg("ORDERS", 3)

    def replayed():
        assert replay.main(["--server", url]) == 0
        return capsys.readouterr().out.splitlines()

    server.start()
    try:
        server.wait_ready()
        asyncio.run(on_stream(three_orders))
        lines = replayed()
        assert lines[0] == "ORDERS: 2 message(s), read from the first by a new subscriber"
        assert [json.loads(line.split(None, 2)[2])["order_id"] for line in lines[1:]] == [1, 2]
        asyncio.run(on_stream(lambda js: js.purge_stream("ORDERS")))
        assert replayed() == ["ORDERS: 0 message(s), read from the first by a new subscriber"]
    finally:
        server.stop()
