"""The services' API contracts, served at GET /openapi.json and fuzzed by tests/unit/test_fuzz.py."""

from flask import Blueprint, jsonify

ERROR = {
    "description": "an error",
    "content": {
        "application/json": {
            "schema": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
        }
    },
}
POSITIVE_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


def _json(schema, description="ok"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes):
    return {str(code): ERROR for code in codes}


def _id_param(name):
    return [{"name": name, "in": "path", "required": True, "schema": POSITIVE_ID}]


HEALTH_PATHS = {
    "/health": {
        "get": {
            "summary": "ready: own database answers",
            "responses": {"200": _json({"type": "object"}), **_errors(503)},
        }
    },
    "/health/live": {"get": {"summary": "the process answers", "responses": {"200": _json({"type": "object"})}}},
    "/health/ready": {
        "get": {
            "summary": "ready, dependencies included",
            "responses": {"200": _json({"type": "object"}), **_errors(503)},
        }
    },
}

USER = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": POSITIVE_ID, "name": {"type": "string", "minLength": 1, "maxLength": 100}},
}
NEW_USER = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100}},
}

USERS_API = {
    "openapi": "3.0.3",
    "info": {"title": "user-service", "version": "1.0.0"},
    "paths": {
        "/users": {
            "get": {"summary": "all users", "responses": {"200": _json({"type": "array", "items": USER})}},
            "post": {
                "summary": "create a user",
                "requestBody": {"required": True, "content": {"application/json": {"schema": NEW_USER}}},
                "responses": {"201": _json(USER, "created"), **_errors(400, 413, 415, 422)},
            },
        },
        "/users/{user_id}": {
            "get": {
                "summary": "one user",
                "parameters": _id_param("user_id"),
                "responses": {"200": _json(USER), **_errors(404)},
            }
        },
        "/auth/token": {
            "post": {
                "summary": "a bearer token (JWT) for a known client",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["client_id", "client_secret"],
                                "additionalProperties": False,
                                "properties": {
                                    "client_id": {"type": "string", "minLength": 1, "maxLength": 100},
                                    "client_secret": {"type": "string", "minLength": 1, "maxLength": 200},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 413, 415, 422)},
            }
        },
        "/auth/verify": {
            "get": {
                "summary": "is the Authorization header a valid bearer token (nginx auth_request)",
                "responses": {"200": _json({"type": "object"}), **_errors(401)},
            }
        },
        **HEALTH_PATHS,
    },
}

ORDER = {
    "type": "object",
    "required": ["id", "user_id", "item"],
    "properties": {
        "id": POSITIVE_ID,
        "user_id": POSITIVE_ID,
        "item": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}
NEW_ORDER = {
    "type": "object",
    "required": ["user_id", "item"],
    "additionalProperties": False,
    "properties": {"user_id": POSITIVE_ID, "item": {"type": "string", "minLength": 1, "maxLength": 200}},
}

ORDERS_API = {
    "openapi": "3.0.3",
    "info": {"title": "order-service", "version": "1.0.0"},
    "paths": {
        "/orders": {
            "get": {"summary": "all orders", "responses": {"200": _json({"type": "array", "items": ORDER})}},
            "post": {
                "summary": "create an order for an existing user",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": NEW_ORDER}}},
                "responses": {"201": _json(ORDER, "created"), **_errors(400, 413, 415, 422, 503)},
            },
        },
        "/orders/{order_id}": {
            "get": {
                "summary": "one order",
                "parameters": _id_param("order_id"),
                "responses": {"200": _json(ORDER), **_errors(404)},
            }
        },
        "/users/{user_id}/summary": {
            "get": {
                "summary": "a user with their orders (response aggregation)",
                "parameters": _id_param("user_id"),
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["user", "orders"],
                            "properties": {"user": USER, "orders": {"type": "array", "items": ORDER}},
                        }
                    ),
                    **_errors(404, 503),
                },
            }
        },
        **HEALTH_PATHS,
    },
}


def openapi_blueprint(spec):
    bp = Blueprint("openapi", __name__)

    @bp.get("/openapi.json")
    def document():
        return jsonify(spec)

    return bp
