"""user-service: owns the users and their database (the doc's DB1)."""

from pathlib import Path

from flask import Blueprint, url_for

from servicekit.auth import auth_blueprint
from servicekit.db import get_db, row_or_404
from servicekit.openapi import openapi_blueprint
from servicekit.validation import json_object, text_field
from servicekit.web import create_service_app

from .api_specs import USERS_API

SCHEMA = Path(__file__).with_name("users.sql")

bp = Blueprint("users", __name__, url_prefix="/users")


def create_app(test_config=None):
    app = create_service_app("user-service", SCHEMA, test_config)
    app.register_blueprint(bp)
    app.register_blueprint(auth_blueprint())  # user-service issues and verifies tokens
    app.register_blueprint(openapi_blueprint(USERS_API))
    return app


@bp.post("")
def create_user():
    name = text_field(json_object({"name"}), "name", max_length=100)
    db = get_db()
    with db:
        user_id = db.execute("INSERT INTO users (name) VALUES (?)", (name,)).lastrowid
    return {"id": user_id, "name": name}, 201, {"Location": url_for("users.get_user", user_id=user_id)}


@bp.get("")
def list_users():
    rows = get_db().execute("SELECT id, name FROM users ORDER BY id").fetchall()
    return [dict(row) for row in rows]


@bp.get("/<int:user_id>")
def get_user(user_id):
    return dict(row_or_404("SELECT id, name FROM users WHERE id = ?", user_id, "user"))
