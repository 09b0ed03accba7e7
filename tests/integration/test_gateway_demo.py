"""Solution 1 end to end: client -> nginx -> order-service -> nginx -> user-service."""

import json
import re
import socket
import time
import uuid

import pytest
import requests

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
    # Ready: its one hop to user-service, the gateway, answers.
    assert http.get(f"{gateway_demo.order_url}/health/ready", timeout=5).json()["user_service"] == "ok"

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
        (http.get(f"{gw}/_auth"), 404, {"error": "not found"}),  # nginx's internal locations
        (http.get(f"{gw}/_errors/400"), 404, {"error": "not found"}),
        (http.get(f"{gw}/users/99"), 404, {"error": "user 99 not found"}),  # user-service's own 404
        (http.post(f"{gw}/users", data='{"name": ', headers={"Content-Type": "application/json"}), 400, None),
        (
            http.post(f"{gw}/users", data="x" * 20000, headers={"Content-Type": "application/json"}),
            413,
            {"error": "request body too large"},
        ),
        (http.get(f"{gw}{'/api/v1' * 11}/users"), 404, {"error": "not found"}),  # one version prefix
        (http.get(f"{gw}/api/v1/users//1"), 404, None),  # not merged into /users/1, as at user-service
        (http.get(f"{gw}/health"), 200, {"status": "ok", "service": "api-gateway"}),
        (http.post(f"{gw}/health"), 405, {"error": "method not allowed"}),
        (http.post(f"{gw}/health", data="x" * 20000), 413, {"error": "request body too large"}),
        (http.delete(f"{gw}/health"), 405, {"error": "method not allowed"}),
    ]
    for response, status, body in cases:
        assert response.status_code == status, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        assert "X-Request-ID" in response.headers
        if body is not None:
            assert response.json() == body
    assert "malformed JSON" in cases[4][0].json()["error"]
    assert "user 1" not in cases[7][0].json()["error"]  # no route, rather than user 1 looked up
    assert cases[-1][0].headers["Allow"] == "GET, HEAD"
    assert http.head(f"{gw}/health").status_code == 200


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


def raw_request(port, data, timeout=5):
    """Bytes as a client that does not speak HTTP properly sends them: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer, deadline = b"", time.monotonic() + timeout
        for _ in range(1000):  # reads of the answer, and at most `timeout` seconds
            head, found, body = answer.partition(b"\r\n\r\n")
            if (found and len(body) >= content_length(head)) or time.monotonic() > deadline:
                break
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def content_length(head):
    found = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
    return int(found.group(1)) if found else 0


CHUNKED = b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
MALFORMED_HTTP = {
    "a request line that is not one": (b"GET\x01 nonsense\r\n\r\n", 400),
    "a URL of 9000 characters": (b"GET /users/" + b"1" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "a header of 9000 characters": (
        b"GET /users HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
        (400, 431),
    ),
    "HTTP/9.9": (b"GET /users HTTP/9.9\r\nHost: x\r\n\r\n", (400, 505)),
    "a chunk size that is not hex": (CHUNKED + b"zz\r\n{}\r\n0\r\n\r\n", 400),
    "a chunked body past the limit": (CHUNKED + b"%x\r\n" % 20000 + b" " * 20000 + b"\r\n0\r\n\r\n", 413),
}


@pytest.mark.parametrize("case", MALFORMED_HTTP)
def test_a_request_that_is_not_proper_http_gets_a_json_error_from_nginx_and_from_gunicorn(gateway_demo, case):
    """nginx and gunicorn answer some requests themselves, before any app sees them: in JSON
    too, like every other error, whether through the gateway or straight at a service."""
    data, expected = MALFORMED_HTTP[case]
    for where, port in (("gateway", gateway_demo.ports.gateway), ("user-service", gateway_demo.ports.user)):
        status, headers, body = raw_request(port, data)
        assert status in (expected if isinstance(expected, tuple) else (expected,)), (where, status, body[:200])
        assert headers["content-type"].startswith("application/json"), (where, headers, body[:200])
        assert "error" in json.loads(body), (where, body)
    assert requests.get(f"{gateway_demo.user_url}/users", timeout=5).json() == []  # nothing half-accepted
