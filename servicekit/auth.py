"""Authentication, the one piece of code both demos use, in the place each demo puts it.

- Gateway demo (GATEWAY_AUTH=on): nginx checks each request once, with `auth_request` to
  user-service's GET /auth/verify, and passes it on with the gateway's secret (X-Gateway-Secret)
  and the verified client (X-Client-Id). Every service then refuses whatever comes without that
  secret, so its own port is no side door around the gateway.
- Discovery demo (AUTH=on): there is no gateway, so every service checks the token itself,
  and order-service forwards the caller's token on its call.

Tokens are JWTs (HS256, signed with AUTH_SECRET) from POST /auth/token, for a client id and secret
listed in AUTH_CLIENTS. `make` generates AUTH_SECRET and GATEWAY_SECRET at a demo's first start;
with auth on, a service refuses to start without real ones.
"""

import hmac
import os
import time

import jwt
from flask import Blueprint, current_app, g, jsonify, request

from .validation import json_object, text_field

HEALTH_PATHS = ("/health",)  # /health, /health/live, /health/ready: the registry and compose ask
OPEN_PATHS = (*HEALTH_PATHS, "/openapi.json", "/auth/")  # no bearer token needed (AUTH=on)
TOKEN_SECONDS = 3600
MIN_SECRET_LENGTH = 32
GATEWAY_SECRET_HEADER = "X-Gateway-Secret"


class MissingSecret(RuntimeError):
    """Auth is on but a secret is missing, short, or a placeholder: refuse to start."""


def setting(name, default="off"):
    """AUTH / GATEWAY_AUTH: from the app's config (tests) or the environment."""
    return current_app.config.get(name, os.getenv(name, default))


def settings():
    return {
        "secret": os.getenv("AUTH_SECRET", ""),
        # client_id:secret pairs, comma separated
        "clients": dict(pair.split(":", 1) for pair in os.getenv("AUTH_CLIENTS", "demo:demo-secret").split(",")),
        "gateway_secret": os.getenv("GATEWAY_SECRET", ""),
    }


SWITCH = ("off", "on")  # AUTH, GATEWAY_AUTH


def require_real_secrets(config):
    """With auth on, a missing, short or placeholder secret stops the service at start; so does
    a switch that is neither on nor off (AUTH=yes must not quietly mean off)."""
    switches = {name: config.get(name, os.getenv(name, "off")) for name in ("GATEWAY_AUTH", "AUTH")}
    for name, value in switches.items():
        if value not in SWITCH:
            raise ValueError(f"{name} must be one of {', '.join(SWITCH)}, not {value!r}")
    gateway_auth, token_auth = switches["GATEWAY_AUTH"] == "on", switches["AUTH"] == "on"
    needed = (["AUTH_SECRET"] if gateway_auth or token_auth else []) + (["GATEWAY_SECRET"] if gateway_auth else [])
    for name in needed:
        value = os.getenv(name, "")
        if len(value) < MIN_SECRET_LENGTH or "change-me" in value:
            raise MissingSecret(
                f"{name} must be a secret of at least {MIN_SECRET_LENGTH} characters when auth is on "
                "(make generates one at a demo's first start: .run/<demo>/secrets.env, or the demo "
                "folder's .env for compose; or set your own)"
            )


def issue_token(client_id):
    now = int(time.time())
    claims = {"sub": client_id, "iat": now, "exp": now + TOKEN_SECONDS}
    return jwt.encode(claims, settings()["secret"], algorithm="HS256")


def verified_client(authorization):
    """The client id in a valid `Bearer <jwt>` header, or None: HS256 only (no `alg: none`), our
    key, not expired, with `sub`, `iat` and `exp`."""
    scheme, _, token = (authorization or "").partition(" ")
    key = settings()["secret"]
    if scheme.lower() != "bearer" or not token or not key:
        return None
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], options={"require": ["exp", "iat", "sub"]})
    except jwt.PyJWTError:
        return None
    return claims["sub"] if isinstance(claims["sub"], str) and claims["sub"] else None


def unauthorized(why):
    response = jsonify(error=why)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="microservices-demo"'
    return response


def from_gateway():
    """Did the request come through the gateway? Only the gateway knows its secret."""
    sent = request.headers.get(GATEWAY_SECRET_HEADER, "")
    expected = settings()["gateway_secret"]
    return bool(sent and expected) and same_secret(sent, expected)


def same_secret(sent, expected):
    """A constant-time comparison of two strings of any characters (hmac's takes str only in ASCII)."""
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def auth_blueprint():
    """POST /auth/token (a login) and GET /auth/verify (nginx's auth_request target)."""
    bp = Blueprint("auth", __name__, url_prefix="/auth")

    @bp.before_request
    def configured():
        if not settings()["secret"]:
            return jsonify(error="authentication is not configured here (no AUTH_SECRET)"), 503
        return None

    @bp.post("/token")
    def token():
        data = json_object({"client_id", "client_secret"})
        client_id = text_field(data, "client_id", max_length=100)
        secret = text_field(data, "client_secret", max_length=200)
        expected = settings()["clients"].get(client_id)
        if expected is None or not same_secret(secret, expected):
            return unauthorized("unknown client or wrong secret")
        return {"access_token": issue_token(client_id), "token_type": "Bearer", "expires_in": TOKEN_SECONDS}

    @bp.get("/verify")
    def verify():
        client = verified_client(request.headers.get("Authorization"))
        if client is None:
            return unauthorized("missing or invalid bearer token")
        # No body: nginx's auth_request reads headers only, and keeps its connection to us only
        # after an answer it has read to the end (a body left unread closes it, once per call).
        response = current_app.response_class(status=204)
        del response.headers["Content-Type"]  # nothing to type (Flask's default would say HTML)
        response.headers["X-Client-Id"] = client
        return response

    return bp


def install(app):
    """Who is calling: set g.client_id, and refuse what auth says must not pass.

    GATEWAY_AUTH=on: nothing but the gateway may call (its secret), health checks aside.
    AUTH=on: a valid bearer token on everything but the open paths."""
    require_real_secrets(app.config)

    @app.before_request
    def identify_client():
        g.client_id = None
        if request.path.startswith(HEALTH_PATHS):
            return None
        if setting("GATEWAY_AUTH") == "on":
            if not from_gateway():
                return jsonify(error="only the API gateway may call this service (GATEWAY_AUTH=on)"), 403
            g.client_id = request.headers.get("X-Client-Id") or None
            return None
        if request.path.startswith(OPEN_PATHS):
            return None
        if setting("AUTH") == "on":
            g.client_id = verified_client(request.headers.get("Authorization"))
            if g.client_id is None:
                return unauthorized("missing or invalid bearer token")
            return None
        # Behind the gateway without auth: its word, and only its word, on who the client is.
        if from_gateway():
            g.client_id = request.headers.get("X-Client-Id") or None
        return None
