"""Solution 1 end to end: client -> nginx -> order-service -> nginx -> user-service."""

import json
import uuid

from localmode.wait import wait_until

from .conftest import order_rows, post_json


def test_the_docs_flow_through_the_gateway(gateway_demo, http):
    gw = gateway_demo.gateway_url
    alice = post_json(http, f"{gw}/users", {"name": "Alice"})
    assert alice.status_code == 201 and alice.json() == {"id": 1, "name": "Alice"}
    order = post_json(http, f"{gw}/orders", {"user_id": 1, "item": "Book"})
    assert order.status_code == 201 and order.json() == {"id": 1, "user_id": 1, "item": "Book"}
    assert http.get(f"{gw}/orders/1").json() == order.json()
    assert order_rows(gateway_demo) == [(1, 1, "Book")]


def test_order_service_reaches_user_service_through_the_gateway(gateway_demo, http):
    """The doc's sequence diagram: the user lookup is a request nginx logs and routes."""
    gw = gateway_demo.gateway_url
    post_json(http, f"{gw}/users", {"name": "Alice"})
    request_id = uuid.uuid4().hex
    response = post_json(http, f"{gw}/orders", {"user_id": 1, "item": "Book"}, headers={"X-Request-ID": request_id})
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == request_id

    def hops():
        log = (gateway_demo.workdir / "logs" / "api-gateway.log").read_text().splitlines()
        entries = [json.loads(line) for line in log if line.startswith("{")]
        return [(e["method"], e["path"], e["upstream"]) for e in entries if e["request_id"] == request_id]

    # nginx writes a request's log line just after its answer: wait for both lines.
    wait_until(lambda: len(hops()) >= 2, 5, "the gateway's log lines")
    hops = hops()
    assert ("GET", "/users/1", f"127.0.0.1:{gateway_demo.ports.user}") in hops
    assert ("POST", "/orders", f"127.0.0.1:{gateway_demo.ports.order}") in hops

    # nginx passed Host and X-Forwarded-For on to user-service.
    user_log = [
        json.loads(line)
        for line in (gateway_demo.workdir / "logs" / "user-service.log").read_text().splitlines()
        if line.startswith("{")
    ]
    lookup = next(e for e in user_log if e.get("request_id") == request_id and e.get("path") == "/users/1")
    assert lookup["forwarded_for"] == "127.0.0.1"
    assert lookup["host"] == f"127.0.0.1:{gateway_demo.ports.gateway}"


def test_gateway_errors_are_json(gateway_demo, http):
    gw = gateway_demo.gateway_url
    cases = [
        (http.get(f"{gw}/nowhere"), 404, {"error": "not found"}),
        (http.get(f"{gw}/users/99"), 404, {"error": "user 99 not found"}),  # user-service's own 404
        (http.post(f"{gw}/users", data='{"name": ', headers={"Content-Type": "application/json"}), 400, None),
        (
            http.post(f"{gw}/users", data="x" * 20000, headers={"Content-Type": "application/json"}),
            413,
            {"error": "request body too large"},
        ),
        (http.get(f"{gw}/health"), 200, {"status": "ok", "service": "api-gateway"}),
    ]
    for response, status, body in cases:
        assert response.status_code == status, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        assert "X-Request-ID" in response.headers
        if body is not None:
            assert response.json() == body
    assert "malformed JSON" in cases[2][0].json()["error"]


def test_user_service_down_gives_503_and_writes_no_order(gateway_demo, http):
    gw = gateway_demo.gateway_url
    post_json(http, f"{gw}/users", {"name": "Alice"})
    gateway_demo.processes["user-service"].stop()

    assert http.get(f"{gw}/users/1").status_code == 502
    assert http.get(f"{gw}/users/1").json() == {"error": "upstream service unavailable"}
    response = post_json(http, f"{gw}/orders", {"user_id": 1, "item": "Book"})
    assert response.status_code == 503
    assert "user-service answered 502" in response.json()["error"]
    assert order_rows(gateway_demo) == []
    assert http.get(f"{gw}/orders").json() == []


def test_user_data_survives_a_restart(gateway_demo, http):
    gw = gateway_demo.gateway_url
    post_json(http, f"{gw}/users", {"name": "Alice"})
    gateway_demo.restart("user-service")
    assert http.get(f"{gw}/users/1").json() == {"id": 1, "name": "Alice"}
