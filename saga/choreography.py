"""order-service in the choreographed saga: it reacts to user-service's credit events.

order-service wrote the order PENDING with its order.created event; user-service answered with
credit.reserved or credit.limit_exceeded; here the order becomes APPROVED or REJECTED and says
so in an event of its own (order.approved / order.rejected), which notification-service hears.
"""

import time

from communication.asynchronous import outbox
from communication.asynchronous.events import Event

from . import orders


def on_credit_reserved(db, event):
    data = event.data
    if orders.settle(db, data["order_id"], "APPROVED", user_name=data.get("user_name")):
        outbox.add(db, Event("order.approved", orders.as_event(db, data["order_id"]), request_id=event.request_id))


def on_credit_limit_exceeded(db, event):
    data = event.data
    if orders.settle(db, data["order_id"], "REJECTED", user_name=data.get("user_name"), reason=data["reason"]):
        outbox.add(db, Event("order.rejected", orders.as_event(db, data["order_id"]), request_id=event.request_id))


def on_credit_released(db, event):
    """The compensation is done (the order was CANCELLED, or REJECTED at its deadline)."""
    orders.compensation(db, event.data["order_id"], "done")


def overdue(db, now=None):
    """A PENDING order whose deadline passed without user-service's answer is REJECTED; its
    order.rejected makes user-service release whatever it may have reserved meanwhile."""
    late = db.execute(
        "SELECT order_id FROM order_states WHERE state = 'PENDING' AND style = 'choreography' AND deadline < ?",
        (now or time.time(),),
    ).fetchall()
    for row in late:
        if orders.settle(db, row["order_id"], "REJECTED", reason=orders.no_answer()):
            orders.compensation(db, row["order_id"], "pending")
            rejected = {**orders.as_event(db, row["order_id"]), "compensate": True}
            outbox.add(db, Event("order.rejected", rejected))
    return len(late)


WAITING = "state = 'PENDING' AND style = 'choreography'"


def resume(db, now=None):
    """order-service restarted: every PENDING order's step gets at least a full step from now."""
    db.execute(
        f"UPDATE order_states SET deadline = MAX(deadline, ?) WHERE {WAITING}",
        ((now or time.time()) + orders.step_seconds(),),
    )


def postpone(db, seconds):
    """The broker is back after `seconds` away: the clock of every PENDING order stood still."""
    db.execute(f"UPDATE order_states SET deadline = deadline + ? WHERE {WAITING}", (seconds,))


HANDLERS = {
    "credit.reserved": on_credit_reserved,
    "credit.limit_exceeded": on_credit_limit_exceeded,
    "credit.released": on_credit_released,
}
