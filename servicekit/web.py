"""The pieces every service's app factory shares: JSON errors, request IDs, JSON logs, health."""

import json
import logging
import sqlite3
import sys
import time

from flask import Blueprint, Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from . import auth, db
from .correlation import REQUEST_ID_HEADER, current_request_id, reset_request_id, safe_or_new, set_request_id
from .hooks import hooks
from .validation import refuse_unknown_query_parameters

DEFAULT_MAX_BODY = 16 * 1024


BUSY = "busy: another write holds the database; try again"


def database_busy(exc):
    """Another write held the database past busy_timeout (NOTIFY=rest holds it across its call):
    nothing was written, and the same request a moment later may well succeed."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def create_service_app(name, schema, test_config=None):
    """An app with the shared behaviour; the caller registers its own blueprint.

    `schema` is the path of the service's .sql file, or a list of them (its tables, created if
    missing); None for a service without a database (the gateway's REST-to-gRPC translation)."""
    app = Flask(name, static_folder=None)  # an API: no /static/ route serving the working directory
    app.json.sort_keys = False  # fields in the order the API documents them
    # /users//1 is not /users/1: merged, werkzeug would answer an HTML 308 to a URL built from
    # the client's Host header, past the JSON error handlers; unmerged, it is a JSON 404.
    app.url_map.merge_slashes = False
    app.url_map.converters["int"] = AsciiInteger
    app.config.from_mapping(
        SERVICE_NAME=name,
        DATABASE=f"{name}.sqlite3",
        MAX_CONTENT_LENGTH=DEFAULT_MAX_BODY,
    )
    if test_config is None:
        # DATABASE, MAX_CONTENT_LENGTH, ... from the environment: FLASK_DATABASE=/data/users.db
        app.config.from_prefixed_env()
    else:
        app.config.from_mapping(test_config)

    configure_logging(name)
    if schema is None:
        app.config["DATABASE"] = None
    else:
        db.init_app(app, schema)
    _install_request_ids(app)
    auth.install(app)
    _install_json_errors(app)
    _answer_options_in_json(app)
    app.register_blueprint(health_blueprint())

    @app.before_request
    def known_query_parameters_only():
        view = app.view_functions.get(request.endpoint)
        if view is not None:  # (no view: the 404 or 405 comes next)
            refuse_unknown_query_parameters(view)

    return app


class AsciiInteger(IntegerConverter):
    """<int:...> in ASCII digits only: werkzeug's \\d also takes other scripts' digits (/users/١
    was user 1), which no id of this API is written in."""

    regex = r"[0-9]+"


def _install_request_ids(app):
    @app.before_request
    def take_or_make_request_id():
        g.request_id = safe_or_new(request.headers.get(REQUEST_ID_HEADER))
        g.request_id_token = set_request_id(g.request_id)
        g.started = time.monotonic()

    @app.teardown_request
    def forget_request_id(_exc=None):
        token = g.pop("request_id_token", None)
        if token is not None:
            reset_request_id(token)

    @app.after_request
    def echo_request_id(response):
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
            logging.getLogger("access").info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round((time.monotonic() - g.started) * 1000, 2),
                    # What the gateway passed on (absent when called directly).
                    "host": request.host,
                    "forwarded_for": request.headers.get("X-Forwarded-For"),
                    "client_id": g.get("client_id"),
                },
            )
        return response


def _install_json_errors(app):
    """Every error, the framework's included, answers JSON {"error": "..."}."""

    @app.errorhandler(HTTPException)
    def http_error(exc):
        # abort(404, description="user 7 not found") keeps its text; werkzeug's stock
        # descriptions are HTML-era prose, so those get a short message instead.
        described = exc.description if exc.description != type(exc).description else None
        message = described or _DEFAULT_MESSAGES.get(exc.code) or exc.name.lower()
        response = jsonify(error=message)
        response.status_code = exc.code
        for header in ("Allow", "Retry-After"):
            value = exc.get_response().headers.get(header)
            if value:
                response.headers[header] = value
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc):
        if database_busy(exc):
            logging.getLogger(app.name).warning("database busy", extra={"error": str(exc)})
            return jsonify(error=BUSY), 503, {"Retry-After": "1"}
        logging.getLogger(app.name).exception("unhandled error")
        return jsonify(error="internal error"), 500


def _answer_options_in_json(app):
    """OPTIONS, which Flask answers by itself: the Allow header, and the same methods as JSON
    rather than an empty text/html page (every answer is JSON)."""
    flasks_own = app.make_default_options_response
    app.make_default_options_response = lambda: options_answer(flasks_own().allow)


def options_answer(methods):
    """What OPTIONS answers: the methods in the Allow header and as JSON."""
    methods = sorted(methods)
    response = jsonify(allow=methods)
    response.headers["Allow"] = ", ".join(methods)
    return response


_DEFAULT_MESSAGES = {
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
    415: "expected Content-Type: application/json",
}


def health_blueprint():
    """Health endpoints; Consul checks and compose healthchecks use GET /health.

    /health/live   the process answers (liveness).
    /health        ready to serve: its own database answers. What the registry and compose watch;
                   it leaves out other services on purpose, so one service's outage does not take
                   the callers out of rotation with it (they answer 503 fast instead).
    /health/ready  /health plus the services this one calls (order-service: can it reach
                   user-service, and its circuit breaker's state).
    """
    bp = Blueprint("health", __name__)

    def own_checks():
        body = {"status": "ok", "service": current_app.config["SERVICE_NAME"]}
        if current_app.config["DATABASE"] is not None:
            body["database"] = "ok"
            try:
                db.get_db().execute("SELECT 1").fetchone()
            except Exception as exc:  # any database failure makes the instance not ready
                body.update(status="fail", database=str(exc))
        for details in hooks(current_app).health_details:
            body.update(details())
        return body

    @bp.get("/health")
    def ready():
        body = own_checks()
        return jsonify(body), 200 if body["status"] == "ok" else 503

    @bp.get("/health/ready")
    def ready_with_dependencies():
        body = own_checks()
        for name, check in hooks(current_app).dependency_checks.items():
            problem = check()
            body[name] = problem or "ok"
            if problem:
                body["status"] = "fail"
        return jsonify(body), 200 if body["status"] == "ok" else 503

    @bp.get("/health/live")
    def live():
        return jsonify(status="ok")

    return bp


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with the request ID when there is one."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def __init__(self, service):
        super().__init__()
        self.service = service

    def format(self, record):
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service):
    """JSON lines on stderr for our loggers and gunicorn's own, so every line parses."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonLogFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter(service))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # gunicorn set up its logger before loading the app (preload); route it through ours.
    gunicorn_log = logging.getLogger("gunicorn.error")
    if gunicorn_log.handlers:
        gunicorn_log.handlers = [handler]
        gunicorn_log.propagate = False
