"""order-service: owns the orders (the doc's DB2); checks each order's user with user-service."""

import hashlib
import json
import sqlite3
from pathlib import Path

from flask import Blueprint, abort, current_app, request, url_for

from communication.synchronous.user_client import UserClient, UserServiceUnavailable
from servicekit.correlation import REQUEST_ID_HEADER, current_request_id
from servicekit.db import get_db, row_or_404
from servicekit.hooks import hooks
from servicekit.openapi import openapi_blueprint
from servicekit.validation import MAX_ID, id_field, json_object, text_field
from servicekit.web import create_service_app

from .api_specs import ORDERS_API

SCHEMA = Path(__file__).with_name("orders.sql")
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_CLIENT = "orders.user_client"  # app.extensions key of the client for user-service

bp = Blueprint("orders", __name__, url_prefix="/orders")
summary_bp = Blueprint("summary", __name__)


def create_app(locator, test_config=None, user_client=None):
    """The order-service; `locator` decides how user-service is found (gateway or Consul).
    Unit tests pass their own `user_client`."""
    app = create_service_app("order-service", SCHEMA, test_config)
    client = user_client or UserClient(locator)
    app.extensions[USER_CLIENT] = client
    service_hooks = hooks(app)
    if hasattr(locator, "start"):
        service_hooks.on_worker_start.append(locator.start)
    service_hooks.health_details.append(client.health)
    service_hooks.dependency_checks["user_service"] = client.reachable
    app.register_blueprint(bp)
    app.register_blueprint(summary_bp)
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


def _order(row):
    return {"id": row["id"], "user_id": row["user_id"], "item": row["item"]}


def _idempotency_key():
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 200 or not key.isprintable():
        abort(400, description=f"{IDEMPOTENCY_HEADER} must be 1 to 200 printable characters")
    return key


def _replay(key, request_hash):
    """The order first created with this key, or None; a different body under the key is an error."""
    row = get_db().execute("SELECT * FROM orders WHERE idempotency_key = ?", (key,)).fetchone()
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        abort(422, description=f"{IDEMPOTENCY_HEADER} was already used with a different request body")
    return (
        _order(row),
        201,
        {"Idempotent-Replayed": "true", "Location": url_for("orders.get_order", order_id=row["id"])},
    )


@bp.post("")
def create_order():
    data = json_object({"user_id", "item"})
    user_id = id_field(data, "user_id")
    item = text_field(data, "item", max_length=200)
    key = _idempotency_key()
    request_hash = hashlib.sha256(json.dumps([user_id, item]).encode()).hexdigest() if key else None
    if key and (replayed := _replay(key, request_hash)):
        return replayed

    if _fetch_user(user_id, "check the user") is None:
        abort(422, description=f"user {user_id} does not exist")

    db = get_db()
    try:
        with db:
            order_id = db.execute(
                "INSERT INTO orders (user_id, item, idempotency_key, request_hash) VALUES (?, ?, ?, ?)",
                (user_id, item, key, request_hash),
            ).lastrowid
    except sqlite3.IntegrityError:
        # The same key raced in on another worker and won: answer with its order.
        return _replay(key, request_hash)
    return (
        {"id": order_id, "user_id": user_id, "item": item},
        201,
        {"Location": url_for("orders.get_order", order_id=order_id)},
    )


@summary_bp.get("/users/<int:user_id>/summary")
def user_summary(user_id):
    """Response aggregation: a user and their orders in one call, composed here because
    order-service already owns the orders and holds the client for user-service."""
    user = _fetch_user(user_id, "fetch the user") if user_id <= MAX_ID else None
    if user is None:
        abort(404, description=f"user {user_id} not found")
    rows = get_db().execute("SELECT * FROM orders WHERE user_id = ? ORDER BY id", (user_id,)).fetchall()
    return {"user": user, "orders": [_order(row) for row in rows]}


@bp.get("")
def list_orders():
    rows = get_db().execute("SELECT * FROM orders ORDER BY id").fetchall()
    return [_order(row) for row in rows]


@bp.get("/<int:order_id>")
def get_order(order_id):
    return _order(row_or_404("SELECT * FROM orders WHERE id = ?", order_id, "order"))
