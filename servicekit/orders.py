"""order-service: owns the orders (the doc's DB2); checks each order's user with user-service."""

import hashlib
import json
import sqlite3

from flask import Blueprint, abort, current_app, request, url_for

from .db import get_db, row_or_404
from .openapi import ORDERS_API, openapi_blueprint
from .userclient import UserClient, UserServiceUnavailable
from .validation import MAX_ID, id_field, json_object, text_field
from .web import create_service_app

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    item TEXT NOT NULL,
    -- Stored in the order's own row, so an order and its key are written together or not at all.
    idempotency_key TEXT UNIQUE,
    request_hash TEXT
);
"""

IDEMPOTENCY_HEADER = "Idempotency-Key"

bp = Blueprint("orders", __name__, url_prefix="/orders")
summary_bp = Blueprint("summary", __name__)


def create_app(locator, test_config=None):
    """The order-service; `locator` decides how user-service is found (gateway or Consul)."""
    app = create_service_app("order-service", SCHEMA, test_config)
    app.extensions["user_client"] = UserClient(locator)
    if hasattr(locator, "start"):
        app.extensions["worker_start"] = [locator.start]
    app.extensions["health_details"] = [lambda: app.extensions["user_client"].health()]
    app.extensions["dependency_checks"] = {"user_service": lambda: app.extensions["user_client"].reachable()}
    app.register_blueprint(bp)
    app.register_blueprint(summary_bp)
    app.register_blueprint(openapi_blueprint(ORDERS_API))
    return app


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

    try:
        user = current_app.extensions["user_client"].get_user(user_id)
    except UserServiceUnavailable as exc:
        abort(503, description=f"cannot check the user: {exc}")
    if user is None:
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
    try:
        user = current_app.extensions["user_client"].get_user(user_id) if user_id <= MAX_ID else None
    except UserServiceUnavailable as exc:
        abort(503, description=f"cannot fetch the user: {exc}")
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
