"""The services' API contracts (OpenAPI 3), served at GET /openapi.json and fuzzed by tests/unit/test_fuzz.py."""

from servicekit.db import MAX_WAIT
from servicekit.openapi import HEALTH_PATHS, POSITIVE_ID, errors, id_param, json_body, json_response

# Money: a number with at most two decimals (the saga's amounts and credit limits).
AMOUNT = {"type": "number", "minimum": 0.01, "maximum": 1_000_000, "multipleOf": 0.01}
CREDIT_LIMIT = {"type": "number", "minimum": 0, "maximum": 1_000_000_000, "multipleOf": 0.01}
NAME = {"type": "string", "minLength": 1, "maxLength": 100}
ITEM = {"type": "string", "minLength": 1, "maxLength": 200}

USER = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {
        "id": POSITIVE_ID,
        "name": NAME,
        "credit_limit": CREDIT_LIMIT,
    },
}
NEW_USER = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": NAME, "credit_limit": CREDIT_LIMIT},
}
CREDIT = {
    "type": "object",
    "required": ["user_id", "credit_limit", "reserved"],
    "properties": {
        "user_id": POSITIVE_ID,
        "credit_limit": {"type": "number", "nullable": True},
        "reserved": {"type": "number"},
        "available": {"type": "number"},
    },
}

USERS_API = {
    "openapi": "3.0.3",
    "info": {"title": "user-service", "version": "1.0.0"},
    "paths": {
        "/users": {
            "get": {"summary": "all users", "responses": {"200": json_response({"type": "array", "items": USER})}},
            "post": {
                "summary": "create a user",
                "requestBody": json_body(NEW_USER),
                "responses": {"201": json_response(USER, "created"), **errors(400, 413, 415, 422)},
            },
        },
        "/users/{user_id}/credit": {
            "get": {
                "summary": "the user's credit limit, what the saga reserved of it, what is left",
                "parameters": id_param("user_id"),
                "responses": {"200": json_response(CREDIT), **errors(404)},
            }
        },
        "/users/{user_id}": {
            "get": {
                "summary": "one user",
                "parameters": id_param("user_id"),
                "responses": {"200": json_response(USER), **errors(404)},
            }
        },
        "/auth/token": {
            "post": {
                "summary": "a bearer token (JWT) for a known client",
                "requestBody": json_body(
                    {
                        "type": "object",
                        "required": ["client_id", "client_secret"],
                        "additionalProperties": False,
                        "properties": {"client_id": NAME, "client_secret": ITEM},
                    }
                ),
                "responses": {"200": json_response({"type": "object"}), **errors(400, 401, 413, 415, 422, 503)},
            }
        },
        "/auth/verify": {
            "get": {
                "summary": "is the Authorization header a valid bearer token (nginx auth_request)",
                "responses": {
                    "204": {
                        "description": "a valid token; no body",
                        "headers": {"X-Client-Id": {"description": "its client", "schema": {"type": "string"}}},
                    },
                    **errors(401, 503),
                },
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
        "item": ITEM,
        # An order with an amount (a saga's): its state, and why if REJECTED.
        "amount": AMOUNT,
        "state": {"type": "string", "enum": ["PENDING", "APPROVED", "REJECTED", "CANCELLED"]},
        "reason": {"type": "string"},
    },
}
NEW_ORDER = {
    "type": "object",
    "required": ["user_id", "item"],
    "additionalProperties": False,
    "properties": {
        "user_id": POSITIVE_ID,
        "item": ITEM,
        "amount": AMOUNT,
    },
}
SAGA = {
    "type": "object",
    "required": ["id", "order_id", "state", "steps"],
    "properties": {
        "id": POSITIVE_ID,
        "order_id": POSITIVE_ID,
        "state": {"type": "string"},
        "steps": {"type": "array", "items": {"type": "object", "required": ["step", "at"]}},
    },
}

# The same key with the same body: the first answer again, nothing written twice.
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": ITEM}

ORDERS_API = {
    "openapi": "3.0.3",
    "info": {"title": "order-service", "version": "1.0.0"},
    "paths": {
        "/orders": {
            "get": {"summary": "all orders", "responses": {"200": json_response({"type": "array", "items": ORDER})}},
            "post": {
                "summary": "create an order for an existing user",
                "parameters": [IDEMPOTENCY_KEY],
                "requestBody": json_body(NEW_ORDER),
                "responses": {
                    "201": json_response(ORDER, "created"),
                    "202": json_response(ORDER, "with an amount (SAGA on): PENDING, its saga decides"),
                    **errors(400, 413, 415, 422, 503),
                },
            },
        },
        "/orders/{order_id}": {
            "get": {
                "summary": "one order; wait=N waits up to N s while it is PENDING",
                "parameters": [
                    *id_param("order_id"),
                    {
                        "name": "wait",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT},
                    },
                ],
                "responses": {"200": json_response(ORDER), **errors(404, 422)},
            }
        },
        "/orders/{order_id}/cancel": {
            "post": {
                "summary": "cancel an approved order; its credit is released (the saga's compensation)",
                "parameters": id_param("order_id"),
                "responses": {"200": json_response(ORDER), **errors(404, 409)},
            }
        },
        "/sagas/{saga_id}": {
            "get": {
                "summary": "an orchestrated saga and its step log",
                "parameters": id_param("saga_id"),
                "responses": {"200": json_response(SAGA), **errors(404)},
            }
        },
        "/users/{user_id}/summary": {
            "get": {
                "summary": "a user with their orders (response aggregation)",
                "parameters": id_param("user_id"),
                "responses": {
                    "200": json_response(
                        {
                            "type": "object",
                            "required": ["user", "orders"],
                            "properties": {"user": USER, "orders": {"type": "array", "items": ORDER}},
                        }
                    ),
                    **errors(404, 503),
                },
            }
        },
        **HEALTH_PATHS,
    },
}

NOTIFICATION = {
    "type": "object",
    "required": ["id", "user_id", "order_id", "message"],
    "properties": {"id": POSITIVE_ID, "user_id": POSITIVE_ID, "order_id": POSITIVE_ID, "message": {"type": "string"}},
}


def _query(name, maximum):
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1 if name != "wait" else 0, "maximum": maximum},
    }


NOTIFICATIONS_API = {
    "openapi": "3.0.3",
    "info": {"title": "notification-service", "version": "1.0.0"},
    "paths": {
        "/notifications": {
            "get": {
                "summary": "notifications, oldest first; wait=N waits up to N s for the first",
                "parameters": [_query("user_id", 2**63 - 1), _query("order_id", 2**63 - 1), _query("wait", MAX_WAIT)],
                "responses": {"200": json_response({"type": "array", "items": NOTIFICATION}), **errors(422)},
            },
            "post": {
                "summary": "notify now (only for the comparison NOTIFY=rest; events come through the broker)",
                "parameters": [IDEMPOTENCY_KEY],
                "requestBody": json_body(
                    {
                        "type": "object",
                        "required": ["user_id", "order_id", "user_name", "item"],
                        "additionalProperties": False,
                        "properties": {
                            "user_id": POSITIVE_ID,
                            "order_id": POSITIVE_ID,
                            "user_name": NAME,
                            "item": ITEM,
                        },
                    }
                ),
                "responses": {"201": json_response(NOTIFICATION, "created"), **errors(400, 413, 415, 422)},
            },
        },
        "/notifications/{notification_id}": {
            "get": {
                "summary": "one notification",
                "parameters": id_param("notification_id"),
                "responses": {"200": json_response(NOTIFICATION), **errors(404)},
            }
        },
        **HEALTH_PATHS,
    },
}
