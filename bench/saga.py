"""The saga, measured: from POST /orders to the order decided, for both styles, beside the
doc's synchronous order; sagas per second with several clients; messages per saga.

    python -m bench.saga [--short]     (make bench runs it after the paths)

Each style runs in a gateway demo of its own (real NATS, real services), one after the other.
Completion time is the order's decision time in order-service's own database minus the moment
the client sent it (one clock: the same machine). Bounded: a fixed number of sagas at c=1, a
fixed time at c=8.
"""

import shutil
import sqlite3
import threading
import time

import requests

from bench import run_alone
from bench.measure import hard_coded
from servicekit.db import MAX_WAIT

STYLES = ["off", "choreography", "orchestration"]  # off: the doc's synchronous order, the reference


def demo_for(style, workdir):
    shutil.rmtree(workdir / style, ignore_errors=True)  # empty databases: the counts are this run's
    return hard_coded(workdir / style, 29000, SAGA=style)  # straight to user-service, as the baseline


def place(session, demo, style):
    """One order, from the client's send to its decision: (sent at, order id)."""
    body = {"user_id": 1, "item": "Book"} if style == "off" else {"user_id": 1, "item": "Book", "amount": 10}
    sent = time.time()
    answer = session.post(f"{demo.order_url}/orders", json=body, timeout=10)
    answer.raise_for_status()
    order_id = answer.json()["id"]
    if style != "off":  # wait for the decision (the GET returns as soon as it is made)
        decided = session.get(f"{demo.order_url}/orders/{order_id}?wait={MAX_WAIT}", timeout=MAX_WAIT + 5).json()
        assert decided["state"] == "APPROVED", decided
    return sent, order_id, time.time()


def completion_ms(demo, style, placed):
    """Per order: decided (order-service's database) minus sent (the client's clock), in ms."""
    if style == "off":
        return sorted((done - sent) * 1000 for sent, _, done in placed)
    with sqlite3.connect(demo.workdir / "data" / "orders.sqlite3") as conn:
        decided = dict(conn.execute("SELECT order_id, updated_at FROM order_states"))
    return sorted((decided[order_id] - sent) * 1000 for sent, order_id, _ in placed)


def messages_per_saga(demo, sagas):
    """Messages the two services wrote to their outboxes, per saga (events, commands, replies)."""
    total = 0
    for database in ("orders.sqlite3", "users.sqlite3"):
        path = demo.workdir / "data" / database
        with sqlite3.connect(path) as conn:
            total += conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    return total / sagas


def measure(style, workdir, count, seconds, clients=8):
    with demo_for(style, workdir) as demo:
        requests.post(f"{demo.user_url}/users", json={"name": "Alice"}, timeout=10).raise_for_status()
        with requests.Session() as session:
            for _ in range(10):  # warm-up: connections, pages, the broker's consumers
                place(session, demo, style)
            one_by_one = [place(session, demo, style) for _ in range(count)]
        c1 = completion_ms(demo, style, one_by_one)
        done, lock = [], threading.Lock()

        def client():
            with requests.Session() as session:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    placed = place(session, demo, style)
                    with lock:
                        done.append(placed)

        started = time.monotonic()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 30)
        took = time.monotonic() - started
        c8 = completion_ms(demo, style, done)
        sagas = 10 + count + len(done)
        return {
            "style": style,
            "c1": {"p50": c1[len(c1) // 2], "p99": c1[min(len(c1) - 1, int(len(c1) * 0.99))], "n": len(c1)},
            f"c{clients}": {"p50": c8[len(c8) // 2], "p99": c8[min(len(c8) - 1, int(len(c8) * 0.99))], "n": len(c8)},
            "per_second": len(done) / took,
            "messages": messages_per_saga(demo, sagas),
        }


def render(results, clients=8):
    lines = [
        "**Sagas**: from the client's POST /orders to the order decided (APPROVED), in ms; orders decided",
        f"per second with {clients} clients; messages the services wrote per order (events, commands, replies).",
        "`off` is the doc's synchronous order (a call to user-service, 201), the reference.",
        "",
        f"| style | p50, c=1 | p99, c=1 | p50, c={clients} | p99, c={clients} | orders/s, c={clients} "
        "| messages per order |",
        "|--|--|--|--|--|--|--|",
    ]
    for r in results:
        c8 = r[f"c{clients}"]
        lines.append(
            f"| {r['style']} | {r['c1']['p50']:.1f} | {r['c1']['p99']:.1f} | {c8['p50']:.1f} | {c8['p99']:.1f} "
            f"| {r['per_second']:.0f} | {r['messages']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def run(short, workdir):
    count, seconds = (20, 2) if short else (300, 10)
    return [measure(style, workdir, count, seconds) for style in STYLES]


if __name__ == "__main__":
    raise SystemExit(run_alone(__doc__, run, render, "saga"))
