"""The services' API contracts (OpenAPI 3), served at GET /openapi.json and fuzzed by tests/unit/test_fuzz.py."""

from servicekit.openapi import HEALTH_PATHS, POSITIVE_ID, errors, id_param, json_response

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
            "get": {"summary": "all users", "responses": {"200": json_response({"type": "array", "items": USER})}},
            "post": {
                "summary": "create a user",
                "requestBody": {"required": True, "content": {"application/json": {"schema": NEW_USER}}},
                "responses": {"201": json_response(USER, "created"), **errors(400, 413, 415, 422)},
            },
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
                "responses": {"200": json_response({"type": "object"}), **errors(400, 401, 413, 415, 422, 503)},
            }
        },
        "/auth/verify": {
            "get": {
                "summary": "is the Authorization header a valid bearer token (nginx auth_request)",
                "responses": {"200": json_response({"type": "object"}), **errors(401, 503)},
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
            "get": {"summary": "all orders", "responses": {"200": json_response({"type": "array", "items": ORDER})}},
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
                "responses": {"201": json_response(ORDER, "created"), **errors(400, 413, 415, 422, 503)},
            },
        },
        "/orders/{order_id}": {
            "get": {
                "summary": "one order",
                "parameters": id_param("order_id"),
                "responses": {"200": json_response(ORDER), **errors(404)},
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
