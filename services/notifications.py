"""notification-service: tells users what happened to their orders (its own database).

It learns of orders from the broker, not from order-service: a durable consumer of the ORDERS
stream stores a notification per event, idempotently (communication/asynchronous/consumer.py).
`POST /notifications` exists only for the comparison NOTIFY=rest (order-service calling it
synchronously, in the order's request): see docs/messaging.md.
"""

import logging
import time
from pathlib import Path

from flask import Blueprint, abort, current_app, url_for

from communication.asynchronous import consumer
from communication.asynchronous.broker import Broker
from servicekit.correlation import current_request_id
from servicekit.db import MAX_WAIT, blocking_read, get_db, row_or_404
from servicekit.hooks import hooks
from servicekit.openapi import openapi_blueprint
from servicekit.validation import (
    IDEMPOTENCY_HEADER,
    MAX_ID,
    id_field,
    idempotency_key,
    json_object,
    money,
    query_int,
    takes_query,
    text_field,
)
from servicekit.web import create_service_app

from .api_specs import NOTIFICATIONS_API

SCHEMA = Path(__file__).with_name("notifications.sql")

log = logging.getLogger("notifications")
bp = Blueprint("notifications", __name__, url_prefix="/notifications")


def create_app(find, test_config=None):
    """notification-service; `find("nats")` says where the broker is."""
    app = create_service_app("notification-service", [SCHEMA, consumer.SCHEMA], test_config)
    broker = Broker(find("nats"), app.config["DATABASE"], name="notification-service")
    orders = consumer.Consumer(
        app.config["DATABASE"],
        stream="ORDERS",
        durable="notification-service",
        subjects=["orders.created", "orders.approved", "orders.rejected", "orders.cancelled"],
        handlers=HANDLERS,
    )
    broker.run(orders)
    service_hooks = hooks(app)
    service_hooks.on_worker_start.append(broker.start)
    service_hooks.health_details += [broker.health, consumer.health]
    app.register_blueprint(bp)
    app.register_blueprint(openapi_blueprint(NOTIFICATIONS_API))
    return app


def notify(db, *, user_id, order_id, kind, message, event_id=None, event_time=None):
    """Store (and log) one notification, in the caller's transaction; its id."""
    made = db.execute(
        "INSERT INTO notifications (user_id, order_id, kind, message, event_id, request_id, event_time, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, order_id, kind, message, event_id, current_request_id(), event_time, time.time()),
    )
    log.info("notified", extra={"user_id": user_id, "order_id": order_id, "notification": message})
    return made.lastrowid


def order_received(db, event):
    """order.created -> "Alice, your order 1 (Book) was received". An order of a saga waits for
    its outcome instead. A field missing (KeyError) or not a number (ValueError) is the event's
    fault: it goes to the dead letters at once."""
    data = event.data
    if data.get("saga"):
        return
    message = f"{data['user_name']}, your order {data['order_id']} ({data['item']}) was received"
    notify(
        db,
        user_id=int(data["user_id"]),
        order_id=int(data["order_id"]),
        kind="order.received",
        message=message,
        event_id=event.id,
        event_time=event.time,
    )


def order_decided(kind, tell):
    """A handler for a saga's outcome (order.approved, .rejected, .cancelled): one notification."""

    def handle(db, event):
        data = event.data
        what = f"your order {data['order_id']} ({data['item']}, {money(data['amount_cents'])})"
        greeting = f"{data['user_name']}, {what}" if data.get("user_name") else what[0].upper() + what[1:]
        notify(
            db,
            user_id=int(data["user_id"]),
            order_id=int(data["order_id"]),
            kind=kind,
            message=f"{greeting} {tell(data)}",
            event_id=event.id,
            event_time=event.time,
        )

    return handle


HANDLERS = {
    "order.created": order_received,
    "order.approved": order_decided("order.approved", lambda d: "was approved"),
    "order.rejected": order_decided("order.rejected", lambda d: f"was rejected: {d['reason']}"),
    "order.cancelled": order_decided("order.cancelled", lambda d: "was cancelled; its credit is released"),
}


def _shown(row):
    return {"id": row["id"], "user_id": row["user_id"], "order_id": row["order_id"], "message": row["message"]}


@bp.get("")
@takes_query("user_id", "order_id", "wait")
def list_notifications():
    """?user_id=1 (and/or order_id): the user's notifications, oldest first. ?wait=N: if there
    are none yet, wait up to N seconds for the first (a notification comes a moment after its
    order: eventual consistency), as Consul's blocking queries do."""
    user_id, order_id = query_int("user_id", 1, MAX_ID), query_int("order_id", 1, MAX_ID)
    wait = query_int("wait", 0, current_app.config.get("MAX_WAIT", MAX_WAIT)) or 0
    where = " AND ".join(c for c, v in (("user_id = ?", user_id), ("order_id = ?", order_id)) if v is not None)
    sql = f"SELECT * FROM notifications {'WHERE ' + where if where else ''} ORDER BY id"  # noqa: S608
    args = [v for v in (user_id, order_id) if v is not None]
    rows = blocking_read(lambda: get_db().execute(sql, args).fetchall(), bool, wait)
    return [_shown(row) for row in rows]


@bp.get("/<int:notification_id>")
def get_notification(notification_id):
    return _shown(row_or_404("SELECT * FROM notifications WHERE id = ?", notification_id, "notification"))


@bp.post("")
def create_notification():
    """The synchronous path (NOTIFY=rest): order-service calls this inside the order's request.
    With an Idempotency-Key (order-service sends one per attempt) a replayed call makes nothing
    twice; the key, not the order id, says "the same call": an order rolled back after this call
    (it timed out on the caller's side) leaves its id to the next order, a different one."""
    data = json_object({"user_id", "order_id", "user_name", "item"})
    user_id, order_id = id_field(data, "user_id"), id_field(data, "order_id")
    name, item = text_field(data, "user_name", 100), text_field(data, "item", 200)
    key = idempotency_key()
    message = f"{name}, your order {order_id} ({item}) was received"
    event_id = None if key is None else f"rest:{key}"
    db = get_db()
    with db:
        if key is None or _first_call(db, event_id):
            made = notify(
                db, user_id=user_id, order_id=order_id, kind="order.received", message=message, event_id=event_id
            )
            row = db.execute("SELECT * FROM notifications WHERE id = ?", (made,)).fetchone()
        else:
            row = db.execute("SELECT * FROM notifications WHERE event_id = ?", (event_id,)).fetchone()
            if (row["user_id"], row["order_id"], row["message"]) != (user_id, order_id, message):
                abort(422, description=f"{IDEMPOTENCY_HEADER} was already used with a different notification")
    return _shown(row), 201, {"Location": url_for("notifications.get_notification", notification_id=row["id"])}


def _first_call(db, event_id):
    """True once per key: the insert takes the write lock, so two racing calls cannot both pass."""
    sql = "INSERT OR IGNORE INTO processed_events (event_id, consumer, processed_at) VALUES (?, 'rest', ?)"
    return db.execute(sql, (event_id, time.time())).rowcount == 1
