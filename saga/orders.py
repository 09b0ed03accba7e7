"""order-service's side of the saga, whichever the style: an order's state, changed only from
the state it is expected to be in (a message handled twice or late finds it moved on)."""

import os
import time
from pathlib import Path

SCHEMA = Path(__file__).with_name("orders.sql")


def step_seconds():
    """How long a saga's step may wait for its answer (SAGA_STEP_SECONDS)."""
    return float(os.getenv("SAGA_STEP_SECONDS", "10"))


def begin(db, order_id, amount_cents, style):
    now = time.time()
    db.execute(
        "INSERT INTO order_states (order_id, amount_cents, state, style, deadline, updated_at)"
        " VALUES (?, ?, 'PENDING', ?, ?, ?)",
        (order_id, amount_cents, style, now + step_seconds(), now),
    )


def no_answer():
    return f"user-service did not answer within {step_seconds():g} s"


def settle(db, order_id, state, user_name=None, reason=None):
    """PENDING -> APPROVED or REJECTED; False if the order is no longer PENDING."""
    return bool(
        db.execute(
            "UPDATE order_states SET state = ?, user_name = COALESCE(?, user_name), reason = ?, updated_at = ?"
            " WHERE order_id = ? AND state = 'PENDING'",
            (state, user_name, reason, time.time(), order_id),
        ).rowcount
    )


def cancel(db, order_id):
    """APPROVED -> CANCELLED, with its credit's release pending; False if it is not APPROVED."""
    return bool(
        db.execute(
            "UPDATE order_states SET state = 'CANCELLED', compensation = 'pending', updated_at = ?"
            " WHERE order_id = ? AND state = 'APPROVED'",
            (time.time(), order_id),
        ).rowcount
    )


def compensation(db, order_id, state):
    """Mark an order's compensation 'pending' (a release asked for) or 'done' (it was answered)."""
    db.execute("UPDATE order_states SET compensation = ? WHERE order_id = ?", (state, order_id))


def state_of(db, order_id):
    return db.execute("SELECT * FROM order_states WHERE order_id = ?", (order_id,)).fetchone()


def as_event(db, order_id):
    """What the order's events carry: enough for notification-service to write to the user."""
    row = db.execute(
        "SELECT o.id, o.user_id, o.item, s.amount_cents, s.state, s.reason, s.user_name, s.style"
        " FROM orders o JOIN order_states s ON s.order_id = o.id WHERE o.id = ?",
        (order_id,),
    ).fetchone()
    return {
        "order_id": row["id"],
        "user_id": row["user_id"],
        "item": row["item"],
        "amount_cents": row["amount_cents"],
        "state": row["state"],
        "reason": row["reason"],
        "user_name": row["user_name"],
        "saga": row["style"],
    }
