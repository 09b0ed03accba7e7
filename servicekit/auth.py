"""Authentication, the one piece of code both demos use, in the place each demo puts it.

- Gateway demo (GATEWAY_AUTH=on): nginx checks each request once, with `auth_request` to
  user-service's GET /auth/verify, and passes the verified client to the services in
  X-Client-Id, which they believe only with the gateway's X-Gateway-Secret.
- Discovery demo (AUTH=on): there is no gateway, so every service checks the token itself
  (require_token below), and order-service forwards the caller's token on its call.

Tokens are JWTs (HS256) from POST /auth/token, for a client id and secret listed in AUTH_CLIENTS.
"""

import hmac
import os
import time

import jwt
from flask import Blueprint, current_app, g, jsonify, request

from .validation import json_object, text_field

OPEN_PATHS = ("/health", "/openapi.json", "/auth/")
TOKEN_SECONDS = 3600


def settings():
    return {
        "secret": os.getenv("AUTH_SECRET", "demo-signing-key-change-me-0123456789"),
        # client_id:secret pairs, comma separated
        "clients": dict(pair.split(":", 1) for pair in os.getenv("AUTH_CLIENTS", "demo:demo-secret").split(",")),
        "gateway_secret": os.getenv("GATEWAY_SECRET", "gateway-secret-change-me"),
    }


def issue_token(client_id):
    now = int(time.time())
    claims = {"sub": client_id, "iat": now, "exp": now + TOKEN_SECONDS}
    return jwt.encode(claims, settings()["secret"], algorithm="HS256")


def verified_client(authorization):
    """The client id in a valid `Bearer <jwt>` header, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims = jwt.decode(token, settings()["secret"], algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    return claims["sub"]


def unauthorized(why):
    response = jsonify(error=why)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="microservices-demo"'
    return response


def auth_blueprint():
    """POST /auth/token (a login) and GET /auth/verify (nginx's auth_request target)."""
    bp = Blueprint("auth", __name__, url_prefix="/auth")

    @bp.post("/token")
    def token():
        data = json_object({"client_id", "client_secret"})
        client_id = text_field(data, "client_id", max_length=100)
        secret = text_field(data, "client_secret", max_length=200)
        expected = settings()["clients"].get(client_id)
        if expected is None or not hmac.compare_digest(expected, secret):
            return unauthorized("unknown client or wrong secret")
        return {"access_token": issue_token(client_id), "token_type": "Bearer", "expires_in": TOKEN_SECONDS}

    @bp.get("/verify")
    def verify():
        client = verified_client(request.headers.get("Authorization"))
        if client is None:
            return unauthorized("missing or invalid bearer token")
        response = jsonify(client_id=client)
        response.headers["X-Client-Id"] = client
        return response

    return bp


def install(app):
    """Who is calling: set g.client_id; with AUTH=on, refuse requests without a valid token."""

    @app.before_request
    def identify_client():
        g.client_id = None
        if request.path.startswith(OPEN_PATHS):
            return None
        if current_app.config.get("AUTH", os.getenv("AUTH", "off")) == "on":
            g.client_id = verified_client(request.headers.get("Authorization"))
            if g.client_id is None:
                return unauthorized("missing or invalid bearer token")
            return None
        # Behind the gateway: its word, and only its word, on who the client is.
        sent = request.headers.get("X-Gateway-Secret", "")
        if sent and hmac.compare_digest(sent, settings()["gateway_secret"]):
            g.client_id = request.headers.get("X-Client-Id") or None
        return None
