"""What a gateway is for, each against the real nginx: authentication, rate limiting, caching,
response aggregation, versioned routing; and the same concerns without a gateway."""

import http.client
import json
import signal
import socket

import pytest
import requests

from localmode.demo import LocalDemo
from localmode.process import http_ok
from localmode.wait import wait_until

from ..conftest import TEST_PORTS
from .conftest import DEMO_CLIENT, order_rows, token


def gateway(tmp_path_factory, **settings):
    return LocalDemo("gateway", workdir=tmp_path_factory.mktemp("gw"), ports=TEST_PORTS, service_env=settings)


def log_entries(demo, service):
    path = demo.workdir / "logs" / f"{service}.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def auth_gateway(tmp_path_factory):
    with gateway(tmp_path_factory, GATEWAY_AUTH="on", GATEWAY_READ_TIMEOUT="2") as demo:
        yield demo


def test_gateway_auth_checks_every_api_call_once(auth_gateway):
    gw = auth_gateway.gateway_url
    refused = requests.get(f"{gw}/users", timeout=5)
    assert refused.status_code == 401
    assert refused.json() == {"error": "missing or invalid bearer token"}
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(f"{gw}/users", headers={"Authorization": "Bearer not.a.jwt"}, timeout=5).status_code == 401
    assert requests.post(f"{gw}/orders", json={"user_id": 1, "item": "Book"}, timeout=5).status_code == 401
    wrong = requests.post(f"{gw}/auth/token", json={**DEMO_CLIENT, "client_secret": "nope"}, timeout=5)
    assert wrong.status_code == 401 and "wrong secret" in wrong.json()["error"]
    assert requests.get(f"{gw}/health", timeout=5).status_code == 200  # stays open

    auth = token(gw)
    assert requests.post(f"{gw}/users", json={"name": "Alice"}, headers=auth, timeout=5).status_code == 201
    # order-service's lookup goes through the gateway too, carrying the caller's token.
    order = requests.post(f"{gw}/orders", json={"user_id": 1, "item": "Book"}, headers=auth, timeout=5)
    assert order.status_code == 201, order.text

    # The services learn who called from the gateway; a forged header is overwritten there...
    forged = {**auth, "X-Client-Id": "mallory", "X-Request-ID": "forged-1"}
    requests.get(f"{gw}/users", headers=forged, timeout=5)
    seen = [e for e in log_entries(auth_gateway, "user-service") if e.get("request_id") == "forged-1"]
    assert [(e["path"], e["client_id"]) for e in seen] == [("/auth/verify", None), ("/users", "demo")]
    # ...and no service answers anyone but the gateway: its own port is no side door.
    for url, method in [
        (f"{auth_gateway.user_url}/users", "GET"),
        (f"{auth_gateway.user_url}/users/1", "GET"),
        (f"{auth_gateway.user_url}/auth/token", "POST"),
        (f"{auth_gateway.order_url}/orders", "POST"),
        (f"{auth_gateway.order_url}/users/1/summary", "GET"),
    ]:
        direct = requests.request(
            method, url, json={"user_id": 1, "item": "Book"}, headers={**auth, "X-Client-Id": "demo"}, timeout=5
        )
        assert direct.status_code == 403, (url, direct.text)
        assert direct.json() == {"error": "only the API gateway may call this service (GATEWAY_AUTH=on)"}
    assert requests.get(f"{auth_gateway.user_url}/health", timeout=5).status_code == 200
    assert [row[2] for row in order_rows(auth_gateway)] == ["Book"]  # the refused order wrote nothing

    # With user-service hung, then down, no token can be checked: unavailable, in JSON like every error.
    user_service = auth_gateway.processes["user-service"]
    user_service.signal(signal.SIGSTOP)
    try:
        hung = requests.get(f"{gw}/orders", headers=auth, timeout=10)  # the check times out after 2 s
    finally:
        user_service.signal(signal.SIGCONT)
    assert hung.status_code == 503 and hung.json() == {"error": "cannot verify the token: user-service unavailable"}
    user_service.stop()
    for method, path in [("GET", "/orders"), ("GET", "/users/1"), ("POST", "/orders")]:
        down = requests.request(method, f"{gw}{path}", json={"user_id": 1, "item": "Pen"}, headers=auth, timeout=5)
        assert down.status_code == 503, (path, down.text)
        assert down.json() == {"error": "cannot verify the token: user-service unavailable"}
    assert requests.get(f"{gw}/health", timeout=5).status_code == 200


def from_address(demo, source, path):
    """GET through the gateway from another loopback address: another client to nginx."""
    connection = http.client.HTTPConnection("127.0.0.1", demo.ports.gateway, timeout=5, source_address=(source, 0))
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_rate_limit_per_client_with_burst(tmp_path_factory):
    with gateway(tmp_path_factory, GATEWAY_RATE_LIMIT="5r/s", GATEWAY_RATE_BURST="5") as demo:
        with requests.Session() as session:
            answers = [session.get(f"{demo.gateway_url}/users", timeout=5) for _ in range(30)]
            # A token is no new bucket (it is not checked yet when the limit applies); an address is.
            same_address = session.get(f"{demo.gateway_url}/users", headers={"Authorization": "Bearer x"}, timeout=5)
        other_address = from_address(demo, "127.0.0.2", "/users")
        ok = [r for r in answers if r.status_code == 200]
        limited = [r for r in answers if r.status_code == 429]
        print(f"\n30 requests back to back, 5 r/s with burst 5: {len(ok)} answered, {len(limited)} refused with 429")
        assert len(ok) + len(limited) == 30
        assert 6 <= len(ok) <= 8  # the burst, plus what the rate refills while they are sent
        assert all(r.json() == {"error": "rate limit exceeded, retry later"} for r in limited)
        assert all(r.headers["Retry-After"] == "1" for r in limited)
        assert same_address.status_code == 429
        assert other_address == 200  # another client has its own bucket
        assert requests.get(f"{demo.gateway_url}/health", timeout=5).status_code == 200  # never limited


def test_cache_hits_and_serves_stale_while_user_service_is_down(tmp_path_factory):
    with gateway(tmp_path_factory, GATEWAY_CACHE_SECONDS="1") as demo:
        gw = demo.gateway_url
        requests.post(f"{gw}/users", json={"name": "Alice"}, timeout=5)
        statuses = [requests.get(f"{gw}/users/1", timeout=5).headers["X-Cache-Status"] for _ in range(2)]
        assert statuses == ["MISS", "HIT"]
        missing = [requests.get(f"{gw}/users/99", timeout=5) for _ in range(2)]
        assert [r.headers["X-Cache-Status"] for r in missing] == ["MISS", "MISS"]  # errors are not cached
        # A caller asking for a fresh answer gets one, and it is not stored for the others.
        requests.post(f"{gw}/users", json={"name": "Bob"}, timeout=5)
        fresh = requests.get(f"{gw}/users/2", headers={"Cache-Control": "no-cache"}, timeout=5)
        assert fresh.headers["X-Cache-Status"] == "BYPASS" and fresh.json() == {"id": 2, "name": "Bob"}
        assert requests.get(f"{gw}/users/2", timeout=5).headers["X-Cache-Status"] == "MISS"

        demo.processes["user-service"].stop()
        # Once the 1 s entry expires only "stale" can answer (HIT until then).
        seen = {}

        def past_the_hits():
            seen["answer"] = requests.get(f"{gw}/users/1", timeout=5)
            return seen["answer"].headers["X-Cache-Status"] != "HIT"

        wait_until(past_the_hits, 5, "the cached copy to expire", interval=0.1)
        stale = seen["answer"]
        assert stale.status_code == 200 and stale.json() == {"id": 1, "name": "Alice"}
        assert stale.headers["X-Cache-Status"] == "STALE"
        # Whether a user exists, for a new order, is never answered from the cache.
        order = requests.post(f"{gw}/orders", json={"user_id": 1, "item": "Book"}, timeout=5)
        assert order.status_code == 503


def test_summary_and_versioned_routes(gateway_demo):
    gw = gateway_demo.gateway_url
    requests.post(f"{gw}/api/v1/users", json={"name": "Alice"}, timeout=5)
    requests.post(f"{gw}/api/v1/orders", json={"user_id": 1, "item": "Book"}, timeout=5)
    requests.post(f"{gw}/orders", json={"user_id": 1, "item": "Pen"}, timeout=5)
    summary = requests.get(f"{gw}/users/1/summary", timeout=5)
    assert summary.json() == {
        "user": {"id": 1, "name": "Alice"},
        "orders": [{"id": 1, "user_id": 1, "item": "Book"}, {"id": 2, "user_id": 1, "item": "Pen"}],
    }
    assert requests.get(f"{gw}/api/v1/users/1/summary", timeout=5).json() == summary.json()
    assert requests.get(f"{gw}/api/v1/users/1", timeout=5).json() == requests.get(f"{gw}/users/1", timeout=5).json()
    assert requests.get(f"{gw}/users/42/summary", timeout=5).status_code == 404
    assert requests.get(f"{gw}/api/v2/users", timeout=5).status_code == 404


def test_without_a_gateway_each_service_checks_the_token(tmp_path_factory):
    demo = LocalDemo("discovery", workdir=tmp_path_factory.mktemp("sd"), ports=TEST_PORTS, service_env={"AUTH": "on"})
    with demo:
        assert requests.post(f"{demo.user_url}/users", json={"name": "Alice"}, timeout=5).status_code == 401
        refused = requests.post(f"{demo.order_url}/orders", json={"user_id": 1, "item": "Book"}, timeout=5)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
        auth = token(demo.user_url)
        assert (
            requests.post(f"{demo.user_url}/users", json={"name": "Alice"}, headers=auth, timeout=5).status_code == 201
        )
        order = requests.post(f"{demo.order_url}/orders", json={"user_id": 1, "item": "Book"}, headers=auth, timeout=5)
        assert order.status_code == 201, order.text
        assert requests.get(f"{demo.order_url}/health", timeout=5).status_code == 200


def slow_clients(port, count=32):
    """Clients that send a POST's headers and one byte of its 100-byte body, then nothing."""
    held = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(
            b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        held.append(client)
    return held


def test_slow_clients_hold_nginx_not_the_service_behind_it(gateway_demo):
    """nginx reads a whole request body before it passes the request on (proxy_request_buffering),
    so clients sending theirs slowly hold nginx's connections and none of the service's threads.
    Straight at the service (the discovery demo's calls go so), they hold its 2 workers x 4 threads
    and it answers nobody until they let go. How many that takes depends on how its two workers
    happen to share them out, so they are added four at a time until it answers nobody (bounded);
    then as many go to the gateway, and the service answers as usual."""
    requests.post(f"{gateway_demo.gateway_url}/users", json={"name": "Alice"}, timeout=5).raise_for_status()
    direct = f"http://127.0.0.1:{gateway_demo.ports.user}"

    def answers():
        return http_ok(f"{direct}/health/live", timeout=1)[0]

    held, starved = [], False
    try:
        while len(held) < 96 and not starved:
            held += slow_clients(gateway_demo.ports.user, 4)
            starved = not answers()
    finally:
        for client in held:
            client.close()
    assert starved, f"user-service still answered with {len(held)} slow clients"
    wait_until(answers, 10, "user-service to answer again")
    through_gateway = slow_clients(gateway_demo.ports.gateway, max(len(held), 32))
    try:
        assert requests.get(f"{gateway_demo.gateway_url}/users/1", timeout=5).status_code == 200
        assert answers()
    finally:
        for client in through_gateway:
            client.close()
    print(
        f"\nslow clients: {len(held)} straight at user-service and it answered nobody; "
        f"{len(through_gateway)} at the gateway and it answered as usual"
    )
