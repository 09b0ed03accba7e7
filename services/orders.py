"""order-service: owns the orders (the doc's DB2); checks each order's user with user-service,
and tells the others of each new order with an event (order.created), written to its outbox in
the order's own transaction."""

import hashlib
import json
import os
import sqlite3
import uuid
from pathlib import Path

from flask import Blueprint, abort, after_this_request, current_app, request, url_for

import saga
from communication.asynchronous import consumer, outbox
from communication.asynchronous.broker import Broker
from communication.asynchronous.events import Event
from communication.synchronous import user_api
from communication.synchronous.notification_client import NotificationClient, NotificationFailed
from communication.synchronous.user_client import UserClient, UserServiceUnavailable
from saga import choreography, deadlines, orchestrator
from saga import orders as saga_orders
from servicekit.correlation import REQUEST_ID_HEADER, current_request_id
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
    money_field,
    query_int,
    takes_query,
    text_field,
)
from servicekit.web import create_service_app

from .api_specs import ORDERS_API

SCHEMA = Path(__file__).with_name("orders.sql")
USER_CLIENT = "orders.user_client"  # app.extensions key of the client for user-service
NOTIFIER = "orders.notifier"  # ... and of the synchronous notification client (NOTIFY=rest)
# How the others hear of an order: events (an outbox row, the default), rest (a synchronous call
# to notification-service in the request, for the comparison), off (nobody: the bench's control).
NOTIFY_MODES = ("events", "rest", "off")

bp = Blueprint("orders", __name__, url_prefix="/orders")
summary_bp = Blueprint("summary", __name__)


def create_app(find, test_config=None, user_client=None):
    """The order-service; `find(service)` says where another service is (through the gateway,
    or through Consul). Unit tests pass their own `user_client`."""
    schemas = [SCHEMA, outbox.SCHEMA, consumer.SCHEMA, saga_orders.SCHEMA]
    app = create_service_app("order-service", schemas, test_config)
    app.config.setdefault("NOTIFY", os.getenv("NOTIFY", "events"))
    if app.config["NOTIFY"] not in NOTIFY_MODES:
        raise ValueError(f"NOTIFY must be one of {', '.join(NOTIFY_MODES)}, not {app.config['NOTIFY']!r}")
    app.config.setdefault("SAGA", saga.style())
    app.config.setdefault("USER_API", user_api())
    if app.config["USER_API"] == "grpc":  # the same lookup over gRPC: users.proto's GetUser
        from communication.synchronous.grpc_transport import GrpcTransport

        locator = find("user-service-grpc")
        client = user_client or UserClient(locator, GrpcTransport())
    else:
        locator = find("user-service")
        client = user_client or UserClient(locator)
    app.extensions[USER_CLIENT] = client
    app.extensions[NOTIFIER] = NotificationClient(find("notification-service"))
    service_hooks = hooks(app)
    if hasattr(locator, "start"):
        service_hooks.on_worker_start.append(locator.start)
    service_hooks.health_details.append(client.health)
    service_hooks.dependency_checks["user_service"] = client.reachable
    if app.config["NOTIFY"] == "events" or app.config["SAGA"] != "off":
        database = app.config["DATABASE"]
        broker = Broker(find("nats"), database, name="order-service")
        relay = outbox.Relay(database)
        broker.run(relay)
        if app.config["SAGA"] == "choreography":
            credit = ["credit.reserved", "credit.limit_exceeded", "credit.released"]
            broker.run(consumer.Consumer(database, "CREDIT", "order-service", credit, choreography.HANDLERS))
        elif app.config["SAGA"] == "orchestration":
            replies = ["replies.order-service"]
            broker.run(consumer.Consumer(database, "REPLIES", "order-orchestrator", replies, orchestrator.HANDLERS))
        if app.config["SAGA"] != "off":
            style = choreography if app.config["SAGA"] == "choreography" else orchestrator
            broker.run(deadlines.DeadlineWatcher(database, style))
        service_hooks.on_worker_start.append(broker.start)
        service_hooks.health_details += [broker.health, lambda: outbox.status(get_db())]
        if app.config["SAGA"] != "off":
            service_hooks.health_details.append(consumer.health)
    app.register_blueprint(bp)
    app.register_blueprint(summary_bp)
    app.register_blueprint(orchestrator.bp)
    app.register_blueprint(openapi_blueprint(ORDERS_API))
    return app


def _passed_on_headers():
    """What travels with the call to user-service: the request ID, and the caller's token
    (user-service, or the gateway, checks it too when auth is on)."""
    headers = {REQUEST_ID_HEADER: current_request_id()}
    if request.headers.get("Authorization"):
        headers["Authorization"] = request.headers["Authorization"]
    return headers


def _fetch_user(user_id, doing):
    """The user from user-service (None if there is none), or a 503 JSON error saying what failed."""
    try:
        return current_app.extensions[USER_CLIENT].get_user(user_id, _passed_on_headers())
    except UserServiceUnavailable as exc:
        abort(503, description=f"cannot {doing}: {exc}")


# An order with its saga state, if it has one (the doc's orders have none).
ORDERS_SQL = "SELECT o.*, s.amount_cents, s.state, s.reason FROM orders o LEFT JOIN order_states s ON s.order_id = o.id"


def _order(row):
    shown = {"id": row["id"], "user_id": row["user_id"], "item": row["item"]}
    if row["state"] is not None:
        shown.update(amount=money(row["amount_cents"]), state=row["state"])
        if row["reason"]:
            shown["reason"] = row["reason"]
    return shown


def _answer(order_id, replayed=False):
    """An order's answer: 201 when it is made, 202 while its saga decides."""
    row = get_db().execute(f"{ORDERS_SQL} WHERE o.id = ?", (order_id,)).fetchone()
    headers = {"Location": url_for("orders.get_order", order_id=order_id)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return _order(row), 202 if row["state"] is not None else 201, headers


def _replay(key, request_hash):
    """The order first created with this key, or None; a different body under the key is an error."""
    row = get_db().execute("SELECT id, request_hash FROM orders WHERE idempotency_key = ?", (key,)).fetchone()
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        abort(422, description=f"{IDEMPOTENCY_HEADER} was already used with a different request body")
    return _answer(row["id"], replayed=True)


@bp.post("")
def create_order():
    data = json_object({"user_id", "item", "amount"})
    user_id = id_field(data, "user_id")
    item = text_field(data, "item", max_length=200)
    amount = money_field(data, "amount", required=False)
    if amount is not None and current_app.config["SAGA"] == "off":
        abort(422, description="'amount' needs a saga: start the demo with SAGA=choreography or SAGA=orchestration")
    key = idempotency_key()
    hashed = [user_id, item] if amount is None else [user_id, item, amount]
    request_hash = hashlib.sha256(json.dumps(hashed).encode()).hexdigest() if key else None
    if key and (replayed := _replay(key, request_hash)):
        return replayed
    if amount is not None:
        return _saga_order(user_id, item, amount, key, request_hash)

    user = _fetch_user(user_id, "check the user")
    if user is None:
        abort(422, description=f"user {user_id} does not exist")

    db = get_db()
    try:
        with db:
            order_id = _insert(db, user_id, item, key, request_hash)
            _tell_others(db, {"order_id": order_id, "user_id": user_id, "user_name": user["name"], "item": item})
    except sqlite3.IntegrityError:
        # The same key raced in on another worker and won: answer with its order.
        return _replay(key, request_hash)
    if current_app.config["NOTIFY"] == "events":
        _wake_relay_once_answered()
    return (
        {"id": order_id, "user_id": user_id, "item": item},
        201,
        {"Location": url_for("orders.get_order", order_id=order_id)},
    )


def _insert(db, user_id, item, key, request_hash):
    return db.execute(
        "INSERT INTO orders (user_id, item, idempotency_key, request_hash) VALUES (?, ?, ?, ?)",
        (user_id, item, key, request_hash),
    ).lastrowid


def _saga_order(user_id, item, amount, key, request_hash):
    """An order with an amount: PENDING now, decided by the saga (no call to user-service here;
    user-service hears of it and answers by message). 202 and where to look."""
    db, style = get_db(), current_app.config["SAGA"]
    try:
        with db:
            order_id = _insert(db, user_id, item, key, request_hash)
            saga_orders.begin(db, order_id, amount, style)
            if style == "choreography":
                event = {**saga_orders.as_event(db, order_id)}
                outbox.add(db, Event("order.created", event, request_id=current_request_id()))
            else:
                orchestrator.begin(db, order_id, current_request_id())
    except sqlite3.IntegrityError:
        return _replay(key, request_hash)
    _wake_relay_once_answered()
    return _answer(order_id)


@bp.post("/<int:order_id>/cancel")
def cancel_order(order_id):
    """Cancel an approved order: it is CANCELLED now, and its credit is given back by message
    (the saga's compensation). Anything but an approved order: 409."""
    db = get_db()
    row_or_404(f"{ORDERS_SQL} WHERE o.id = ?", order_id, "order")
    with db:
        if not saga_orders.cancel(db, order_id):
            # Its state now, in this transaction: a cancel that lost a race sees CANCELLED.
            state = db.execute(f"{ORDERS_SQL} WHERE o.id = ?", (order_id,)).fetchone()["state"]
            why = f"is {state}" if state else "has no amount and no saga"
            abort(409, description=f"order {order_id} {why}: only an approved order can be cancelled")
        event = saga_orders.as_event(db, order_id)
        outbox.add(db, Event("order.cancelled", event, request_id=current_request_id()))
        if event["saga"] == "orchestration":
            orchestrator.cancel(db, order_id, current_request_id())
    _wake_relay_once_answered()
    return _answer(order_id)[0]


def _wake_relay_once_answered():
    """Wake the relay when the answer has been sent, not before: woken earlier, its thread takes
    the interpreter while this request is still writing the answer, and the client waits for the
    publish too (measured: bench/outbox.py)."""
    database = current_app.config["DATABASE"]

    @after_this_request
    def wake_when_sent(response):
        response.call_on_close(lambda: outbox.wake(database))
        return response


def _tell_others(db, order):
    """Inside the order's transaction: an outbox row (events), or a call that must succeed
    before the order may commit (rest: no order without its notification, and a failed
    notification fails the order)."""
    mode = current_app.config["NOTIFY"]
    if mode == "events":
        outbox.add(db, Event("order.created", order, request_id=current_request_id()))
    elif mode == "rest":
        # A key of this attempt's own: an order id given again after a rolled-back attempt
        # (SQLite reuses it) is a new notification, and the same call replayed makes none.
        headers = {REQUEST_ID_HEADER: current_request_id(), IDEMPOTENCY_HEADER: uuid.uuid4().hex}
        try:
            current_app.extensions[NOTIFIER].notify(order, headers)
        except NotificationFailed as exc:
            abort(503, description=f"cannot notify: {exc}")


@summary_bp.get("/users/<int:user_id>/summary")
def user_summary(user_id):
    """Response aggregation: a user and their orders in one call, composed here because
    order-service already owns the orders and holds the client for user-service."""
    # An id no user can have is not asked for: over gRPC it is INVALID_ARGUMENT, a failed call
    # that would count towards opening the breaker on every order.
    user = _fetch_user(user_id, "fetch the user") if 1 <= user_id <= MAX_ID else None
    if user is None:
        abort(404, description=f"user {user_id} not found")
    rows = get_db().execute(f"{ORDERS_SQL} WHERE o.user_id = ? ORDER BY o.id", (user_id,)).fetchall()
    return {"user": user, "orders": [_order(row) for row in rows]}


@bp.get("")
def list_orders():
    rows = get_db().execute(f"{ORDERS_SQL} ORDER BY o.id").fetchall()
    return [_order(row) for row in rows]


@bp.get("/<int:order_id>")
@takes_query("wait")
def get_order(order_id):
    """One order. ?wait=N: while its saga is deciding (PENDING), wait up to N s for the outcome."""
    wait = query_int("wait", 0, MAX_WAIT) or 0
    row = blocking_read(
        lambda: row_or_404(f"{ORDERS_SQL} WHERE o.id = ?", order_id, "order"),
        lambda row: row["state"] != "PENDING",
        wait,
    )
    return _order(row)
