"""user-service: owns the users and their database (the doc's DB1); in the order saga, also each
user's credit (saga/credit.py)."""

import os
from pathlib import Path

from flask import Blueprint, abort, url_for

import saga
from communication.asynchronous import consumer, outbox
from communication.asynchronous.broker import Broker
from communication.synchronous import user_api
from saga import credit
from servicekit.auth import auth_blueprint
from servicekit.companions import Companion
from servicekit.db import get_db, row_or_404
from servicekit.hooks import hooks
from servicekit.openapi import openapi_blueprint
from servicekit.validation import MAX_ID, json_object, money, money_field, text_field
from servicekit.web import create_service_app

from .api_specs import USERS_API

SCHEMA = Path(__file__).with_name("users.sql")
MAX_CREDIT_LIMIT = 1_000_000_000

bp = Blueprint("users", __name__, url_prefix="/users")


def create_app(test_config=None, find=None):
    """user-service; with a saga on (SAGA), `find("nats")` says where the broker is, and it
    answers the saga's events and commands about credit."""
    app = create_service_app("user-service", [SCHEMA, credit.SCHEMA, outbox.SCHEMA, consumer.SCHEMA], test_config)
    app.config.setdefault("SAGA", saga.style())
    app.config.setdefault("USER_API", user_api())
    if app.config["USER_API"] == "grpc":  # the gRPC face, a process of its own beside this one
        port = int(os.getenv("GRPC_PORT", "50051"))
        hooks(app).companions.append(Companion("user-service-grpc", "services.users_grpc", port))
    if app.config["SAGA"] != "off":
        database = app.config["DATABASE"]
        broker = Broker(find("nats"), database, name="user-service")
        relay = outbox.Relay(database)
        choreographed = {
            "order.created": credit.on_order_created,
            "order.cancelled": credit.on_order_cancelled,
            "order.rejected": credit.on_order_rejected,
        }
        commanded = {"reserve_credit": credit.on_reserve_credit, "release_credit": credit.on_release_credit}
        order_events = ["orders.created", "orders.cancelled", "orders.rejected"]
        orders_seen = consumer.Consumer(database, "ORDERS", "user-service", order_events, choreographed)
        commands = consumer.Consumer(database, "COMMANDS", "user-service-commands", ["commands.user.>"], commanded)
        for task in (relay, orders_seen, commands):
            broker.run(task)
        service_hooks = hooks(app)
        service_hooks.on_worker_start.append(broker.start)
        service_hooks.health_details += [broker.health, consumer.health]
    app.register_blueprint(bp)
    app.register_blueprint(auth_blueprint())  # user-service issues and verifies tokens
    app.register_blueprint(openapi_blueprint(USERS_API))
    return app


# The users' data, the same for the REST API (below) and the gRPC one (users_grpc.py).


def add_user(db, name, limit_cents=None):
    """A new user (and their credit limit, if given), in one transaction; returns its id."""
    with db:
        user_id = db.execute("INSERT INTO users (name) VALUES (?)", (name,)).lastrowid
        if limit_cents is not None:
            db.execute("INSERT INTO credit_limits (user_id, limit_cents) VALUES (?, ?)", (user_id, limit_cents))
    return user_id


def find_user(db, user_id):
    row = db.execute("SELECT id, name FROM users WHERE id = ?", (user_id,)).fetchone() if user_id <= MAX_ID else None
    return dict(row) if row else None


def all_users(db):
    return [dict(row) for row in db.execute("SELECT id, name FROM users ORDER BY id")]


@bp.post("")
def create_user():
    data = json_object({"name", "credit_limit"})
    name = text_field(data, "name", max_length=100)
    limit = money_field(data, "credit_limit", minimum=0, maximum=MAX_CREDIT_LIMIT, required=False)
    user_id = add_user(get_db(), name, limit)
    shown = {"id": user_id, "name": name, **({"credit_limit": money(limit)} if limit is not None else {})}
    return shown, 201, {"Location": url_for("users.get_user", user_id=user_id)}


@bp.get("")
def list_users():
    return all_users(get_db())


@bp.get("/<int:user_id>")
def get_user(user_id):
    return find_user(get_db(), user_id) or abort(404, description=f"user {user_id} not found")


@bp.get("/<int:user_id>/credit")
def get_credit(user_id):
    """The user's credit limit, what the saga has reserved of it, and what is left."""
    row_or_404("SELECT id FROM users WHERE id = ?", user_id, "user")
    return credit.credit_of(get_db(), user_id)
