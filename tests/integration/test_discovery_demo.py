"""Solution 2 end to end: services register with a real Consul agent, order-service asks it."""

import time

from localmode.process import http_ok
from localmode.wait import wait_until

from .conftest import order_rows, post_json


def test_both_services_register_and_pass(discovery_demo):
    p = discovery_demo.ports
    assert discovery_demo.passing("user-service") == [("127.0.0.1", p.user)]
    assert discovery_demo.passing("order-service") == [("127.0.0.1", p.order)]


def test_the_docs_flow_with_direct_calls(discovery_demo, http):
    alice = post_json(http, f"{discovery_demo.user_url}/users", {"name": "Alice"})
    assert alice.status_code == 201 and alice.json() == {"id": 1, "name": "Alice"}
    order = post_json(http, f"{discovery_demo.order_url}/orders", {"user_id": 1, "item": "Book"})
    assert order.status_code == 201 and order.json() == {"id": 1, "user_id": 1, "item": "Book"}
    unknown = post_json(http, f"{discovery_demo.order_url}/orders", {"user_id": 42, "item": "Book"})
    assert unknown.status_code == 422 and unknown.json() == {"error": "user 42 does not exist"}
    assert order_rows(discovery_demo) == [(1, 1, "Book")]


def test_stopped_instance_deregisters_and_orders_get_503(discovery_demo, http):
    post_json(http, f"{discovery_demo.user_url}/users", {"name": "Alice"})
    discovery_demo.processes["user-service"].stop()  # SIGTERM: deregisters first
    assert discovery_demo.passing("user-service") == []
    catalog = http.get(f"{discovery_demo.consul_url}/v1/catalog/service/user-service", timeout=5)
    assert catalog.status_code == 200 and catalog.json() == []  # gone from the catalog, not just failing

    response = post_json(http, f"{discovery_demo.order_url}/orders", {"user_id": 1, "item": "Book"})
    assert response.status_code == 503
    assert response.json() == {"error": "cannot check the user: no passing instance of user-service in consul"}
    assert order_rows(discovery_demo) == []

    discovery_demo.restart("user-service")
    discovery_demo.wait_passing("user-service", 1)
    # order-service's view follows Consul a moment later: ready once it has an instance to call.
    wait_until(lambda: http_ok(f"{discovery_demo.order_url}/health/ready")[0], 5, "order-service to see it")
    assert post_json(http, f"{discovery_demo.order_url}/orders", {"user_id": 1, "item": "Book"}).status_code == 201


def test_killed_instance_leaves_passing_results_by_its_health_check(discovery_demo, http):
    """SIGKILL: no chance to deregister; Consul's HTTP check (every 2 s, 1 s timeout) finds out."""
    import signal

    discovery_demo.processes["user-service"].signal(signal.SIGKILL)
    killed = time.monotonic()
    discovery_demo.wait_passing("user-service", 0, timeout=10)
    elapsed = time.monotonic() - killed
    print(f"killed user-service left Consul's passing results after {elapsed:.2f}s")
    assert elapsed <= 2 + 1 + 0.5  # one check interval plus its timeout, plus polling slack

    response = post_json(http, f"{discovery_demo.order_url}/orders", {"user_id": 1, "item": "Book"})
    assert response.status_code == 503
    assert order_rows(discovery_demo) == []
