"""OpenAPI documents: the pieces every service's contract uses, and the blueprint serving GET /openapi.json.

Each service's own contract is in services/api_specs.py (fuzzed by tests/unit/test_fuzz.py)."""

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


def json_response(schema, description="ok"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def json_body(schema):
    """A required JSON request body of `schema`."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def errors(*codes):
    return {str(code): ERROR for code in codes}


def id_param(name):
    return [{"name": name, "in": "path", "required": True, "schema": POSITIVE_ID}]


HEALTH_PATHS = {
    "/health": {
        "get": {
            "summary": "ready: own database answers",
            "responses": {"200": json_response({"type": "object"}), **errors(503)},
        }
    },
    "/health/live": {
        "get": {"summary": "the process answers", "responses": {"200": json_response({"type": "object"})}}
    },
    "/health/ready": {
        "get": {
            "summary": "ready, dependencies included",
            "responses": {"200": json_response({"type": "object"}), **errors(503)},
        }
    },
}


def openapi_blueprint(spec):
    bp = Blueprint("openapi", __name__)

    @bp.get("/openapi.json")
    def document():
        return jsonify(spec)

    return bp
