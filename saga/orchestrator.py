r"""The orchestrated saga: order-service's orchestrator sends user-service commands and keeps a
persisted saga instance (its state, a log of every step, a deadline for the step under way).

    RESERVING_CREDIT --reserved--> APPROVED --cancel--> CANCELLING --released--> CANCELLED
           |  declined     \                                  (the order is CANCELLED at once;
           v                \ no reply by the deadline        the release follows reliably)
        REJECTED <--released-- COMPENSATING      (the order is REJECTED at the deadline)

Commands go out through order-service's outbox (reserve_credit, release_credit on the COMMANDS
work queue); replies come back on REPLIES. Nothing lives only in memory: after a restart the
outbox still holds the unsent commands, the stream the unread replies, and the deadline watcher
gives each waiting step a full step to be answered before it decides, so each unfinished saga
resumes from its log. GET /sagas/<id> shows it.
"""

import logging
import time

from flask import Blueprint

from communication.asynchronous import outbox
from communication.asynchronous.events import Event
from servicekit.db import get_db, row_or_404

from . import orders

log = logging.getLogger("orchestrator")


def record(db, saga_id, step, detail=None):
    db.execute(
        "INSERT INTO saga_steps (saga_id, step, detail, at) VALUES (?, ?, ?, ?)", (saga_id, step, detail, time.time())
    )


def move(db, saga_id, expected, state, deadline=None):
    """expected -> state (with the next step's deadline, if one is under way); False if the saga
    is not in `expected` any more."""
    return bool(
        db.execute(
            "UPDATE sagas SET state = ?, step_deadline = ?, updated_at = ? WHERE id = ? AND state = ?",
            (state, deadline, time.time(), saga_id, expected),
        ).rowcount
    )


def command(db, saga_id, name, order, request_id, wait=None):
    """Send a command (through the outbox, in the caller's transaction) and log it."""
    data = {"saga_id": saga_id, "order_id": order["order_id"], "user_id": order["user_id"]}
    if name == "reserve_credit":
        data["amount_cents"] = order["amount_cents"]
    outbox.add(db, Event(name, data, request_id=request_id))
    record(db, saga_id, f"{name} sent", f"reply due within {wait or orders.step_seconds():g} s")


ASKED_AGAIN = "deadline missed: asking again"
# A release is asked again until user-service answers (a compensation must happen), each time
# waiting twice as long, at most 2**5 = 32 steps: a long outage sends a command every few
# minutes (every 320 s at SAGA_STEP_SECONDS=10), not one per step.
MAX_DOUBLINGS = 5


def _wait_before_asking_again(db, saga_id):
    asked = db.execute("SELECT COUNT(*) FROM saga_steps WHERE saga_id = ? AND step = ?", (saga_id, ASKED_AGAIN))
    return orders.step_seconds() * 2 ** min(asked.fetchone()[0] + 1, MAX_DOUBLINGS)


def begin(db, order_id, request_id):
    """A new saga for a PENDING order: its instance, and its first command."""
    now = time.time()
    saga_id = db.execute(
        "INSERT INTO sagas (order_id, state, step_deadline, created_at, updated_at)"
        " VALUES (?, 'RESERVING_CREDIT', ?, ?, ?)",
        (order_id, now + orders.step_seconds(), now, now),
    ).lastrowid
    record(db, saga_id, "started", f"order {order_id}")
    command(db, saga_id, "reserve_credit", orders.as_event(db, order_id), request_id)
    return saga_id


def cancel(db, order_id, request_id):
    """The order was APPROVED and is now CANCELLED: give its credit back (the compensation)."""
    saga = db.execute("SELECT id FROM sagas WHERE order_id = ?", (order_id,)).fetchone()
    if saga and move(db, saga["id"], "APPROVED", "CANCELLING", time.time() + orders.step_seconds()):
        record(db, saga["id"], "cancel asked")
        command(db, saga["id"], "release_credit", orders.as_event(db, order_id), request_id)


def on_reply(db, reply):
    """credit.reply from user-service: the next step, guarded by the state the saga is in."""
    data = reply.data
    saga_id, order_id, outcome = data["saga_id"], data["order_id"], data["outcome"]
    if data["command"] == "reserve_credit":
        if outcome == "reserved" and move(db, saga_id, "RESERVING_CREDIT", "APPROVED"):
            record(db, saga_id, "credit reserved")
            orders.settle(db, order_id, "APPROVED", user_name=data.get("user_name"))
            outbox.add(db, Event("order.approved", orders.as_event(db, order_id), request_id=reply.request_id))
        elif outcome == "declined" and move(db, saga_id, "RESERVING_CREDIT", "REJECTED"):
            record(db, saga_id, "credit declined", data["reason"])
            orders.settle(db, order_id, "REJECTED", user_name=data.get("user_name"), reason=data["reason"])
            outbox.add(db, Event("order.rejected", orders.as_event(db, order_id), request_id=reply.request_id))
        else:  # it came after the deadline: the saga is compensating, and the release undoes it
            record(db, saga_id, "late reply ignored", f"credit {outcome}")
    elif data["command"] == "release_credit":
        if move(db, saga_id, "COMPENSATING", "REJECTED"):
            record(db, saga_id, "credit released: compensated")
            orders.compensation(db, order_id, "done")
        elif move(db, saga_id, "CANCELLING", "CANCELLED"):
            record(db, saga_id, "credit released")
            orders.compensation(db, order_id, "done")
        else:
            record(db, saga_id, "late reply ignored", "credit released")


HANDLERS = {"credit.reply": on_reply}


def overdue(db, now=None):
    """Every step past its deadline: a reserve that had no answer is compensated (release the
    credit it may have taken); a release that had none is sent again (it is idempotent), each
    time after a longer wait."""
    now = now or time.time()
    late = db.execute(
        "SELECT id, order_id, state FROM sagas WHERE step_deadline IS NOT NULL AND step_deadline < ?", (now,)
    ).fetchall()
    next_deadline = now + orders.step_seconds()
    for saga in late:
        order = orders.as_event(db, saga["order_id"])
        if saga["state"] == "RESERVING_CREDIT":
            if move(db, saga["id"], "RESERVING_CREDIT", "COMPENSATING", next_deadline):
                # The order is decided now; the release follows, whenever user-service answers.
                record(db, saga["id"], "deadline missed: compensating", "no reply to reserve_credit")
                orders.settle(db, saga["order_id"], "REJECTED", reason=orders.no_answer())
                orders.compensation(db, saga["order_id"], "pending")
                outbox.add(db, Event("order.rejected", orders.as_event(db, saga["order_id"])))
                command(db, saga["id"], "release_credit", order, None)
        else:  # COMPENSATING, CANCELLING
            wait = _wait_before_asking_again(db, saga["id"])
            if move(db, saga["id"], saga["state"], saga["state"], now + wait):
                record(db, saga["id"], ASKED_AGAIN, "no reply to release_credit")
                command(db, saga["id"], "release_credit", order, None, wait)
    return len(late)


def resume(db, now=None):
    """order-service restarted: every step that waits gets at least a full step from now (a
    release asked again keeps its longer wait)."""
    db.execute(
        "UPDATE sagas SET step_deadline = MAX(step_deadline, ?) WHERE step_deadline IS NOT NULL",
        ((now or time.time()) + orders.step_seconds(),),
    )


def postpone(db, seconds):
    """The broker is back after `seconds` away: the clock of every waiting step stood still."""
    db.execute("UPDATE sagas SET step_deadline = step_deadline + ? WHERE step_deadline IS NOT NULL", (seconds,))


bp = Blueprint("sagas", __name__, url_prefix="/sagas")


@bp.get("/<int:saga_id>")
def get_saga(saga_id):
    """The saga instance and its step log, oldest step first."""
    saga = row_or_404("SELECT * FROM sagas WHERE id = ?", saga_id, "saga")
    steps = get_db().execute("SELECT step, detail, at FROM saga_steps WHERE saga_id = ? ORDER BY id", (saga_id,))
    return {
        "id": saga["id"],
        "order_id": saga["order_id"],
        "state": saga["state"],
        "steps": [{"step": s["step"], "detail": s["detail"], "at": round(s["at"], 3)} for s in steps],
    }
