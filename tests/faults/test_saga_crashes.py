"""The order saga, both styles, under crashes: 200 orders from several users (some over their
credit) while user-service, order-service or NATS is killed or stopped and comes back; a
participant that never answers; 50 orders at once against one limit.

After recovery, from the services' own databases: every order APPROVED, REJECTED or CANCELLED
(none stuck past its deadline), each user's reserved credit equal to their approved orders'
amounts and never over the limit, and exactly one notification per outcome.
"""

import random
import signal
import sqlite3
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .conftest import place_order, stream, wait_until

STYLES = ["choreography", "orchestration"]
SAGA = {"MAX_DELIVERIES": "3", "BROKER_RECONNECT_ATTEMPTS": "4", "SAGA_STEP_SECONDS": "20"}
LIMITS = {1: 2000, 2: 2000, 3: 3000, 4: None, 5: 500}  # user 4 has no limit; 200 orders ask for more
AMOUNTS = [20, 40, 60, 80, 100]


def restart(process):
    process.start()
    process.wait_ready()


def saga_demo(make_demo, style, **settings):
    demo = make_demo("gateway", SAGA=style, **{**SAGA, **settings})
    for user_id, limit in LIMITS.items():
        body = {"name": f"user{user_id}", **({"credit_limit": limit} if limit is not None else {})}
        assert requests.post(f"{demo.gateway_url}/users", json=body, timeout=10).json()["id"] == user_id
    return demo


def query(demo, database, sql, args=()):
    with sqlite3.connect(demo.workdir / "data" / database) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, args).fetchall()


def states(demo):
    return {r["order_id"]: r for r in query(demo, "orders.sqlite3", "SELECT * FROM order_states")}


def unfinished(demo):
    """Orders still PENDING or with a compensation under way, and orchestrated sagas not in a
    final state."""
    pending = [o for o, r in states(demo).items() if r["state"] == "PENDING" or r["compensation"] == "pending"]
    sagas = query(
        demo, "orders.sqlite3", "SELECT id FROM sagas WHERE state NOT IN ('APPROVED', 'REJECTED', 'CANCELLED')"
    )
    return pending + [f"saga {r['id']}" for r in sagas]


def expected_notifications(demo):
    """{(order_id, kind): 1} for every outcome: approved, rejected, and cancelled (after approved)."""
    wanted = {}
    for order_id, row in states(demo).items():
        if row["state"] in ("APPROVED", "CANCELLED"):
            wanted[(order_id, "order.approved")] = 1
        if row["state"] in ("REJECTED", "CANCELLED"):
            wanted[(order_id, f"order.{row['state'].lower()}")] = 1
    return wanted


def notifications(demo):
    return Counter(
        (r["order_id"], r["kind"]) for r in query(demo, "notifications.sqlite3", "SELECT * FROM notifications")
    )


def credit_check(demo):
    """What the two databases say together: orders approved without their credit held or the other
    way round, reservations of another amount, users whose held credit is not their approved
    orders' sum, and users over their limit."""
    final = states(demo)
    reservations = {r["order_id"]: r for r in query(demo, "users.sqlite3", "SELECT * FROM credit_reservations")}
    owner = {r["id"]: r["user_id"] for r in query(demo, "orders.sqlite3", "SELECT id, user_id FROM orders")}
    held, approved = Counter(), Counter()
    for order_id, r in reservations.items():
        if r["state"] == "reserved":
            held[r["user_id"]] += r["amount_cents"]
            if final[order_id]["amount_cents"] != r["amount_cents"]:
                held["wrong amount"] += 1
    for order_id, r in final.items():
        if r["state"] == "APPROVED":
            approved[owner[order_id]] += r["amount_cents"]
    holds_wrongly = [
        o
        for o, r in final.items()
        if (r["state"] == "APPROVED") != (reservations.get(o, {"state": None})["state"] == "reserved")
    ]
    return {
        "credit_mismatch": sum(1 for u in LIMITS if held[u] != approved[u]),
        "reservations_not_matching": len(holds_wrongly) + held["wrong amount"],
        "over_limit": sum(1 for u, limit in LIMITS.items() if limit is not None and held[u] > limit * 100),
    }


def settle_and_check(name, demo, outcomes, cancel=10):
    """Wait for every saga to end (cancelling some approved orders first) and its compensations
    to be done, then check and print."""
    wait_until(lambda: not unfinished(demo), 60, "every saga to end")
    approved = [o for o, r in states(demo).items() if r["state"] == "APPROVED"][:cancel]
    for order_id in approved:
        answer = requests.post(f"{demo.gateway_url}/orders/{order_id}/cancel", timeout=10)
        assert answer.status_code == 200 and answer.json()["state"] == "CANCELLED"
    wait_until(lambda: not unfinished(demo), 60, "the cancellations' sagas to end")
    # A compensation (a release) is itself a message: give it its moment, bounded.
    wait_until(lambda: not any(credit_check(demo).values()), 30, "the credit to match the orders")
    wait_until(
        lambda: set(notifications(demo)) >= set(expected_notifications(demo)), 60, "every outcome's notification"
    )
    final, made = states(demo), notifications(demo)
    counts = {
        "sent": len(outcomes),
        "accepted": sum(o.status == 202 for o in outcomes),
        **Counter(r["state"].lower() for r in final.values()),
        "stuck": len(unfinished(demo)),
        **credit_check(demo),
        "notifications": sum(made.values()),
        "notifications_missing": sum(1 for k in expected_notifications(demo) if made[k] == 0),
        "notifications_duplicated": sum(n - 1 for n in made.values() if n > 1),
        "notifications_unexpected": sum(1 for k in made if k not in expected_notifications(demo)),
    }
    print(f"\n[{name}] " + "  ".join(f"{k}={v}" for k, v in counts.items()))
    for key in ("stuck", "credit_mismatch", "reservations_not_matching", "over_limit"):
        assert counts[key] == 0, key
    for key in ("notifications_missing", "notifications_duplicated", "notifications_unexpected"):
        assert counts[key] == 0, key
    return counts


def orders_from_several_users(seed=7):
    rng = random.Random(seed)
    return lambda i: {"user_id": rng.choice([1, 2, 3, 4]), "item": f"Item {i}", "amount": rng.choice(AMOUNTS)}


FAULTS = {
    "user-service SIGKILLed": lambda demo: (
        lambda: demo.processes["user-service"].signal(signal.SIGKILL),
        lambda: restart(demo.processes["user-service"]),
    ),
    "order-service SIGKILLed": lambda demo: (
        lambda: demo.processes["order-service"].signal(signal.SIGKILL),
        lambda: restart(demo.processes["order-service"]),
    ),
    "NATS stopped": lambda demo: (
        lambda: demo.processes["nats"].stop(),
        lambda: restart(demo.processes["nats"]),
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("style", STYLES)
def test_200_orders_while_a_part_crashes_end_consistent(make_demo, style, fault):
    demo = saga_demo(make_demo, style)
    crash, recover = FAULTS[fault](demo)
    outcomes = stream(
        demo.gateway_url, 200, events={60: crash, 120: recover}, spacing=0.01, body_for=orders_from_several_users()
    )
    counts = settle_and_check(f"saga {style}, {fault}", demo, outcomes)
    assert counts["accepted"] >= 130  # the orders of the outage may fail, the others are taken
    assert counts.get("approved", 0) + counts.get("cancelled", 0) > 0 and counts.get("rejected", 0) > 0


@pytest.mark.parametrize("style", STYLES)
def test_a_participant_that_never_answers_is_compensated_after_the_deadline(make_demo, style):
    demo = saga_demo(make_demo, style, SAGA_STEP_SECONDS="3")
    user_service = demo.processes["user-service"]
    user_service.signal(signal.SIGSTOP)  # alive to the kernel, answers nothing
    try:
        outcomes = stream(
            demo.gateway_url, 5, spacing=0, body_for=lambda i: {"user_id": 1, "item": "Book", "amount": 20}
        )
        assert [o.status for o in outcomes] == [202] * 5
        wait_until(
            lambda: all(r["state"] == "REJECTED" for r in states(demo).values()), 15, "the deadline to reject them"
        )
        reasons = {r["reason"] for r in states(demo).values()}
        assert reasons == {"user-service did not answer within 3 s"}
    finally:
        user_service.signal(signal.SIGCONT)
    # Back, user-service handles what waited (the reservations, then their releases): nothing stays held.
    counts = settle_and_check(f"saga {style}, user-service hung past the deadline", demo, outcomes, cancel=0)
    assert counts["rejected"] == 5
    wait_until(
        lambda: not query(demo, "users.sqlite3", "SELECT 1 FROM credit_reservations WHERE state = 'reserved'"),
        30,
        "every late reservation to be released",
    )


@pytest.mark.parametrize("style", STYLES)
def test_orders_taken_while_nats_is_away_past_their_deadline_are_decided_on_their_merits(make_demo, style):
    """Their requests could not leave order-service's outbox: when NATS is back each waiting step
    gets a full step again, so user-service is asked and answers, instead of every order being
    REJECTED for an answer nobody asked for."""
    # Both services reconnect within about a second of NATS's return (their backoff capped at 1 s),
    # well inside a step: the test is about order-service's clock, not about user-service's pace.
    demo = saga_demo(make_demo, style, SAGA_STEP_SECONDS="5", BROKER_MAX_BACKOFF_SECONDS="1")
    nats = demo.processes["nats"]
    nats.stop()
    try:
        outcomes = stream(
            demo.gateway_url, 5, spacing=0, body_for=lambda i: {"user_id": 1, "item": "Book", "amount": 20}
        )
        assert [o.status for o in outcomes] == [202] * 5
        last_deadline = max(r["deadline"] for r in states(demo).values())
        time.sleep(max(0.0, last_deadline + 1 - time.time()))  # the outage outlasts every order's step
    finally:
        restart(nats)
    counts = settle_and_check(f"saga {style}, NATS away past the step's deadline", demo, outcomes, cancel=0)
    assert counts.get("approved", 0) == 5, {o: r["reason"] for o, r in states(demo).items()}


@pytest.mark.parametrize("style", STYLES)
def test_50_concurrent_orders_never_reserve_more_than_the_limit(make_demo, style):
    demo = saga_demo(make_demo, style)  # user 5: limit 500, so 25 orders of 20 fit

    def order(_):
        with requests.Session() as session:
            return place_order(session, demo.gateway_url, body={"user_id": 5, "item": "Cup", "amount": 20})

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(order, range(50)))
    counts = settle_and_check(f"saga {style}, 50 concurrent orders against one limit", demo, outcomes, cancel=0)
    assert counts["accepted"] == 50
    assert counts["approved"] == 25 and counts["rejected"] == 25
