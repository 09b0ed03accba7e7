"""user-service in the order saga: reserve a user's credit for an order, or release it.

The check and the reservation are one SQLite transaction that takes the write lock first (the
consumer opens each with BEGIN IMMEDIATE), so concurrent orders against one limit are decided
one after the other and never reserve more than it. Keyed by order: the same request twice reserves once, and a release
that comes before its reservation (an orchestrator that gave up waiting) leaves a mark that
refuses the reservation when it comes.

Both saga styles use these two operations:
- choreography: reacting to order-service's events (order.created, order.cancelled), answering
  with events of its own (credit.reserved, credit.limit_exceeded, credit.released);
- orchestration: obeying the orchestrator's commands (reserve_credit, release_credit), answering
  with a reply (credit.reply).
Either way the answer goes out through user-service's own outbox, in the same transaction.
"""

import time
from pathlib import Path

from communication.asynchronous import outbox
from communication.asynchronous.events import Event, Malformed
from servicekit.validation import MAX_AMOUNT, MAX_ID, money

SCHEMA = Path(__file__).with_name("credit.sql")


class Declined(Exception):
    """The reservation cannot be made; the message says why (shown to the user)."""

    def __init__(self, reason, user_name=None):
        super().__init__(reason)
        self.user_name = user_name


def available(db, user_id):
    """(limit in cents or None for no limit, reserved cents) of a user."""
    row = db.execute("SELECT limit_cents FROM credit_limits WHERE user_id = ?", (user_id,)).fetchone()
    reserved = db.execute(
        "SELECT COALESCE(SUM(amount_cents), 0) FROM credit_reservations WHERE user_id = ? AND state = 'reserved'",
        (user_id,),
    ).fetchone()[0]
    return (row[0] if row else None), reserved


def reserve(db, order_id, user_id, amount_cents):
    """Reserve, inside the caller's transaction; returns the user's name, raises Declined (or
    Malformed: whoever published a message with such numbers, order-service did not)."""
    if not (0 < amount_cents <= MAX_AMOUNT * 100 and 0 < order_id <= MAX_ID and 0 < user_id <= MAX_ID):
        raise Malformed(f"order {order_id}, user {user_id}, amount_cents {amount_cents}: out of range")
    user = db.execute("SELECT name FROM users WHERE id = ?", (user_id,)).fetchone()
    if user is None:
        raise Declined(f"user {user_id} does not exist")
    existing = db.execute("SELECT state FROM credit_reservations WHERE order_id = ?", (order_id,)).fetchone()
    if existing is not None:
        if existing["state"] == "released":
            raise Declined("the order was cancelled before its credit was reserved", user["name"])
        return user["name"]  # asked again: reserved once already
    limit, reserved = available(db, user_id)
    if limit is not None and reserved + amount_cents > limit:
        left = f"{money(limit - reserved)} of {money(limit)} available"
        raise Declined(f"credit limit exceeded: {money(amount_cents)} asked, {left}", user["name"])
    db.execute(
        "INSERT INTO credit_reservations (order_id, user_id, amount_cents, state, created_at)"
        " VALUES (?, ?, ?, 'reserved', ?)",
        (order_id, user_id, amount_cents, time.time()),
    )
    return user["name"]


def release(db, order_id, user_id=None):
    """Release an order's credit, inside the caller's transaction; True if credit was held. With
    nothing reserved yet, a 'released' mark refuses a reservation that comes later."""
    row = db.execute("SELECT state FROM credit_reservations WHERE order_id = ?", (order_id,)).fetchone()
    now = time.time()
    if row is None:
        db.execute(
            "INSERT INTO credit_reservations (order_id, user_id, amount_cents, state, created_at, released_at)"
            " VALUES (?, ?, 0, 'released', ?, ?)",
            (order_id, user_id or 0, now, now),
        )
        return False
    if row["state"] == "released":
        return False
    db.execute("UPDATE credit_reservations SET state = 'released', released_at = ? WHERE order_id = ?", (now, order_id))
    return True


# -- choreography: events in, events out ---------------------------------------------------------


def on_order_created(db, event):
    """order.created with an amount: reserve, and say how it went (credit.reserved or
    credit.limit_exceeded). An order without an amount is not part of the saga."""
    data = event.data
    if data.get("saga") != "choreography":
        return
    answer = {"order_id": data["order_id"], "user_id": data["user_id"]}
    try:
        name = reserve(db, int(data["order_id"]), int(data["user_id"]), int(data["amount_cents"]))
    except Declined as exc:
        declined = {**answer, "reason": str(exc), "user_name": exc.user_name}
        reply = Event("credit.limit_exceeded", declined, request_id=event.request_id)
    else:
        reply = Event("credit.reserved", {**answer, "user_name": name}, request_id=event.request_id)
    outbox.add(db, reply)


def on_order_rejected(db, event):
    """order.rejected because order-service stopped waiting for this service's answer: give back
    whatever the order may hold by now (a rejection this service made itself holds nothing)."""
    if event.data.get("compensate"):
        on_order_cancelled(db, event)


def on_order_cancelled(db, event):
    """order.cancelled: give the order's credit back (the compensation), and say so."""
    data = event.data
    if data.get("saga") != "choreography":
        return
    release(db, int(data["order_id"]), int(data["user_id"]))
    outbox.add(db, Event("credit.released", {"order_id": data["order_id"]}, request_id=event.request_id))


# -- orchestration: commands in, replies out -----------------------------------------------------


def on_reserve_credit(db, command):
    data = command.data
    reply = {"saga_id": data["saga_id"], "order_id": data["order_id"], "command": "reserve_credit"}
    try:
        name = reserve(db, int(data["order_id"]), int(data["user_id"]), int(data["amount_cents"]))
    except Declined as exc:
        reply.update(outcome="declined", reason=str(exc), user_name=exc.user_name)
    else:
        reply.update(outcome="reserved", user_name=name)
    outbox.add(db, Event("credit.reply", reply, request_id=command.request_id))


def on_release_credit(db, command):
    data = command.data
    held = release(db, int(data["order_id"]), int(data.get("user_id") or 0))
    reply = {"saga_id": data["saga_id"], "order_id": data["order_id"], "command": "release_credit"}
    outbox.add(db, Event("credit.reply", {**reply, "outcome": "released", "held": held}, request_id=command.request_id))


def credit_of(db, user_id):
    """What GET /users/<id>/credit shows."""
    limit, reserved = available(db, user_id)
    shown = {
        "user_id": user_id,
        "credit_limit": money(limit) if limit is not None else None,
        "reserved": money(reserved),
    }
    if limit is not None:
        shown["available"] = money(limit - reserved)
    return shown
