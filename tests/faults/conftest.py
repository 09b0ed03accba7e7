"""Fault tests: real faults (SIGKILL, SIGSTOP, SIGTERM, a stopped Consul or nginx) injected into
real processes of a local-mode demo, under a bounded stream of orders.

Every order carries its own Idempotency-Key, so afterwards the order-service database tells
exactly what happened to each: `tally()` prints sent / succeeded / failed-fast / lost / duplicated.
"""

import sqlite3
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests

from localmode.demo import LocalDemo
from localmode.wait import wait_until  # noqa: F401  (the one bounded poll, for the fault tests)

from ..conftest import SECOND_TEST_PORTS, TEST_PORTS

FAST = 1.0  # seconds: a failure answered within this is "failed fast"

# Faster-moving settings than the defaults, so the tests take seconds, not minutes.
FAST_SETTINGS = {
    "CONSUL_CHECK_INTERVAL": "1s",
    "CONSUL_CHECK_TIMEOUT": "500ms",
    "CONSUL_REREGISTER_SECONDS": "1",
    "BREAKER_RESET_SECONDS": "2",
    "USER_SERVICE_READ_TIMEOUT": "1",
}


@pytest.fixture
def make_demo(tmp_path_factory):
    """make_demo("gateway", instances=..., **env) -> a started Demo, stopped after the test."""
    started = []

    def make(name, instances=None, **env):
        # Fault 5 runs both demos at once: each its own ports.
        ports = TEST_PORTS if name == "gateway" else SECOND_TEST_PORTS
        demo = LocalDemo(
            name,
            workdir=tmp_path_factory.mktemp(name),
            ports=ports,
            instances=instances,
            service_env={**FAST_SETTINGS, **env},
        )
        started.append(demo)
        return demo.start()

    yield make
    for demo in reversed(started):
        demo.stop()


@dataclass
class Outcome:
    key: str
    status: int  # 0: no HTTP answer
    seconds: float
    body: dict = field(default_factory=dict)
    at: float = 0.0  # when it was sent, seconds since the stream began


def place_order(session, url, user_id=1, key=None, timeout=10.0, started=0.0, body=None):
    key = key or uuid.uuid4().hex
    sent = time.monotonic()
    try:
        response = session.post(
            f"{url}/orders",
            json=body or {"user_id": user_id, "item": "Book"},
            headers={"Idempotency-Key": key},
            timeout=timeout,
        )
        status, body = response.status_code, response.json()
    except requests.RequestException as exc:
        status, body = 0, {"error": type(exc).__name__}
    return Outcome(key, status, time.monotonic() - sent, body, sent - started)


def stream(url, count, events=None, spacing=0.02, deadline=120.0, body_for=None):
    """Send `count` orders one after another; events {i: callable} run before order i;
    body_for(i) gives order i's body (default: Alice's Book).

    Bounded in count and time. Returns the outcomes in order.
    """
    events = events or {}
    outcomes = []
    start = time.monotonic()
    with requests.Session() as session:
        for i in range(count):
            if i in events:
                events[i]()
            if time.monotonic() - start > deadline:
                break
            body = body_for(i) if body_for else None
            outcomes.append(place_order(session, url, started=start, body=body))
            time.sleep(spacing)  # pacing of the stream, not a readiness wait
    return outcomes


def concurrent_stream(url_for_request, seconds, concurrency=8, max_orders=20000, until=None):
    """Orders from `concurrency` threads for `seconds`, or until `until()` is true (bounded count too)."""
    start = time.monotonic()
    counter = iter(range(max_orders))

    def going():
        return time.monotonic() - start < seconds and not (until and until()) and next(counter, None) is not None

    def worker():
        mine = []
        with requests.Session() as session:
            while going():
                mine.append(place_order_retrying(session, url_for_request, started=start))
        return mine

    with ThreadPoolExecutor(concurrency) as pool:
        results = [pool.submit(worker) for _ in range(concurrency)]
    return sorted((o for r in results for o in r.result()), key=lambda o: o.at)


def place_order_retrying(session, url_for_request, started, attempts=5):
    """A client that retries a POST carrying an Idempotency-Key when the connection fails:
    safe, since the key makes the retry return the first order instead of writing another."""
    key = uuid.uuid4().hex
    for _ in range(attempts):
        outcome = place_order(session, url_for_request(), key=key, started=started)
        if outcome.status != 0:
            return outcome
        time.sleep(0.05)  # backoff before the retry
    return outcome


def orders_by_key(demo):
    with sqlite3.connect(demo.workdir / "data" / "orders.sqlite3") as conn:
        return dict(Counter(k for (k,) in conn.execute("SELECT idempotency_key FROM orders")))


def tally(name, outcomes, demo):
    """Counts of what happened, printed; lost and duplicated come from the database itself."""
    rows = orders_by_key(demo)
    ok = [o for o in outcomes if o.status == 201]
    failed = [o for o in outcomes if o.status != 201]
    counts = {
        "sent": len(outcomes),
        "succeeded": len(ok),
        "failed_fast": sum(1 for o in failed if o.seconds < FAST),
        "failed_slow": sum(1 for o in failed if o.seconds >= FAST),
        # told 201, but no order under its key
        "lost": sum(1 for o in ok if rows.get(o.key, 0) == 0),
        # more than one order under one key
        "duplicated": sum(n - 1 for n in rows.values() if n > 1),
        # told it failed, yet an order was written
        "half_written": sum(1 for o in failed if rows.get(o.key, 0) > 0),
    }
    print(f"\n[{name}] " + "  ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def create_alice(demo):
    response = requests.post(f"{demo.entry_urls['users']}/users", json={"name": "Alice"}, timeout=10)
    assert response.status_code == 201


# --- messaging: what notification-service made of the orders ---------------------------------


def notification_counts(demo):
    """{order_id: notifications made for it}, from notification-service's own database."""
    with sqlite3.connect(demo.workdir / "data" / "notifications.sqlite3") as conn:
        return dict(Counter(order_id for (order_id,) in conn.execute("SELECT order_id FROM notifications")))


def stored_orders(demo):
    with sqlite3.connect(demo.workdir / "data" / "orders.sqlite3") as conn:
        return [order_id for (order_id,) in conn.execute("SELECT id FROM orders")]


def wait_all_notified(demo, timeout=90):
    """Until every stored order has its notification (the broker delivers eventually)."""

    def all_notified():
        notified = notification_counts(demo)
        return all(notified.get(order) for order in stored_orders(demo))

    wait_until(all_notified, timeout, "every order's notification", interval=0.2)


def messaging_tally(name, outcomes, demo):
    """Printed counts: orders answered, and per stored order the notifications it got (lost: a
    stored order without one; duplicated: more than one)."""
    counts = tally(name, outcomes, demo)
    notified = notification_counts(demo)
    orders = stored_orders(demo)
    counts.update(
        orders_stored=len(orders),
        notifications=sum(notified.values()),
        notifications_lost=sum(1 for o in orders if not notified.get(o)),
        notifications_duplicated=sum(n - 1 for n in notified.values() if n > 1),
        notifications_without_order=sum(1 for o in notified if o not in set(orders)),
    )
    print(f"[{name}] " + "  ".join(f"{k}={counts[k]}" for k in list(counts)[7:]))
    return counts


def outbox_depth(demo):
    return requests.get(f"{demo.order_url}/health", timeout=5).json().get("outbox_depth", 0)
