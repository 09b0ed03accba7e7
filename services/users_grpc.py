"""user-service's gRPC face (USER_API=grpc): the same users, database and rules as its REST API,
over the contract in communication/synchronous/users.proto, with the standard health service and
reflection. It runs as a process of its own beside the REST one (started, watched and stopped by
user-service's gunicorn master: servicekit/gunicorn_conf.py), on GRPC_PORT (50051).

    python -m services.users_grpc

Bad input is INVALID_ARGUMENT with the same message REST gives in its 422; an unknown user
NOT_FOUND. With GATEWAY_AUTH=on it answers only the gateway (its secret in the metadata), with
AUTH=on only a valid bearer token, as the REST API does.
"""

import logging
import os
import signal
import sys
import threading
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from communication.synchronous.grpc_stubs import load
from servicekit import auth
from servicekit.companions import graceful_seconds
from servicekit.correlation import request_id_bound, safe_or_new
from servicekit.db import connect
from servicekit.validation import MAX_ID, Invalid, checked_text
from servicekit.web import BUSY, configure_logging, database_busy

from .users import add_user, all_users, find_user

users_pb2, users_pb2_grpc = load()
SERVICE = "users.v1.Users"
log = logging.getLogger("user-service-grpc")


class Users(users_pb2_grpc.UsersServicer):
    def __init__(self, database):
        self.database = database
        self._local = threading.local()

    def db(self):
        """A connection per server thread, kept (as the REST workers keep theirs)."""
        if not hasattr(self._local, "db"):
            self._local.db = connect(self.database)
        return self._local.db

    def GetUser(self, request, context):  # noqa: N802 (the .proto's names)
        if not 1 <= request.id <= MAX_ID:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"'id' must be between 1 and {MAX_ID}")
        user = find_user(self.db(), request.id)
        if user is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"user {request.id} not found")
        return users_pb2.User(**user)

    def CreateUser(self, request, context):  # noqa: N802
        try:
            name = checked_text(request.name if request.HasField("name") else None, "name", 100)
        except Invalid as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return users_pb2.User(id=add_user(self.db(), name), name=name)

    def ListUsers(self, request, context):  # noqa: N802
        return users_pb2.ListUsersResponse(users=[users_pb2.User(**u) for u in all_users(self.db())])


class Undecodable:
    """What arrived instead of a request message: gRPC itself would answer INTERNAL ("Exception
    deserializing request!"); bad input is the caller's, so the Gatekeeper answers INVALID_ARGUMENT."""

    def __init__(self, type_name, why):
        self.type_name, self.why = type_name, why


def tolerant(deserializer):
    def deserialize(data):
        try:
            return deserializer(data)
        except Exception as exc:  # protobuf's DecodeError, or a string field that is not UTF-8
            return Undecodable(getattr(getattr(deserializer, "__self__", None), "__name__", "request"), exc)

    return deserialize


class Gatekeeper(grpc.ServerInterceptor):
    """What the REST API's before_request does, for the API's calls: the request ID into the logs,
    the gateway's secret (GATEWAY_AUTH=on) or a bearer token (AUTH=on) checked."""

    # Health stays open (Consul asks it), and reflection only describes the API.
    OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or details.method.startswith(self.OPEN):
            return handler
        if handler.unary_unary is None:  # a stream: the checks below are for unary calls; refused,
            return None  # UNIMPLEMENTED, rather than let through unchecked
        metadata = dict(details.invocation_metadata)
        refusal = self.refusal(metadata)
        request_id = safe_or_new(metadata.get("x-request-id"))
        method = details.method

        def unary(request, context):
            started = time.monotonic()
            with request_id_bound(request_id):
                context.send_initial_metadata((("x-request-id", request_id),))
                try:
                    if refusal:
                        context.abort(*refusal)
                    if isinstance(request, Undecodable):
                        why = f"not a valid {request.type_name}: {request.why}"
                        context.abort(grpc.StatusCode.INVALID_ARGUMENT, why)
                    return handler.unary_unary(request, context)
                except Exception:
                    if context.code() is not None:  # context.abort's own exception: the status is set
                        raise
                    exc = sys.exc_info()[1]
                    if database_busy(exc):  # as REST's 503: try again (UNAVAILABLE is retried)
                        log.warning("database busy", extra={"method": method, "error": str(exc)})
                        context.abort(grpc.StatusCode.UNAVAILABLE, BUSY)
                    # Anything else (a bug): logged here, and the caller gets INTERNAL "internal
                    # error" as REST's 500 says, not the exception's own text.
                    log.exception("call failed", extra={"method": method})
                    context.abort(grpc.StatusCode.INTERNAL, "internal error")
                finally:
                    code = context.code() or grpc.StatusCode.OK
                    ms = round((time.monotonic() - started) * 1000, 2)
                    log.info("call", extra={"method": method, "code": code.name, "ms": ms})

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    @staticmethod
    def refusal(metadata):
        if os.getenv("GATEWAY_AUTH", "off") == "on":
            sent, expected = metadata.get("x-gateway-secret", ""), os.getenv("GATEWAY_SECRET", "")
            if not (sent and expected and auth.same_secret(sent, expected)):
                return grpc.StatusCode.PERMISSION_DENIED, "only the API gateway may call this service (GATEWAY_AUTH=on)"
        elif os.getenv("AUTH", "off") == "on" and auth.verified_client(metadata.get("authorization")) is None:
            return grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token"
        return None


def build_server(database, address):
    """The server with Users, health (SERVING once built) and reflection, bound to `address`."""
    # Not SO_REUSEPORT (grpcio's default on Linux): a second server on the port must fail, not share it.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=int(os.getenv("GRPC_THREADS", "8"))),
        interceptors=[Gatekeeper()],
        options=[("grpc.so_reuseport", 0)],
    )
    users_pb2_grpc.add_UsersServicer_to_server(Users(database), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    server.add_insecure_port(address)
    return server, health_servicer


def address():
    """GRPC_PORT on the REST API's host (BIND=host:port, as gunicorn's)."""
    host = os.getenv("BIND", "0.0.0.0:5001").rsplit(":", 1)[0]
    return f"{host}:{os.getenv('GRPC_PORT', '50051')}"


def main():
    configure_logging("user-service")
    auth.require_real_secrets({})
    database = os.getenv("FLASK_DATABASE", "user-service.sqlite3")
    server, health_servicer = build_server(database, address())
    server.start()
    log.info("gRPC server listening", extra={"address": address()})
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    # As the REST side: no new work (health says so), finish what is under way, exit.
    health_servicer.enter_graceful_shutdown()
    server.stop(graceful_seconds()).wait()
    log.info("gRPC server stopped")


if __name__ == "__main__":
    main()
