"""The lookup over gRPC (USER_API=grpc): Users.GetUser on user-service's gRPC API, directly
(discovery demo) or through nginx (gateway demo).

A deadline on every call (the read timeout), the request ID and the caller's token as metadata,
and the statuses mapped onto what the REST lookup means: NOT_FOUND is no such user (the order is
422), UNAVAILABLE is worth another instance (retried by UserClient), DEADLINE_EXCEEDED is 503
without a retry. Channels are made lazily in the worker that uses them (never in gunicorn's
master: a channel inherited across fork can crash the worker), one per target, kept.
"""

import threading
from urllib.parse import urlsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .grpc_stubs import load
from .user_client import Retryable, UserServiceUnavailable, setting

users_pb2, users_pb2_grpc = load()


class GrpcTransport:
    def __init__(self):
        self.deadline = setting("USER_SERVICE_READ_TIMEOUT", 3.0)
        self._channels = {}
        self._lock = threading.Lock()

    def _channel(self, base_url):
        target = urlsplit(base_url).netloc or base_url  # grpc://host:port -> host:port
        with self._lock:
            if target not in self._channels:
                self._channels[target] = grpc.insecure_channel(target)
            return self._channels[target]

    def get_user(self, base_url, user_id, headers):
        metadata = [(k.lower(), v) for k, v in headers.items() if k.lower() in ("x-request-id", "authorization") and v]
        stub = users_pb2_grpc.UsersStub(self._channel(base_url))
        try:
            user = stub.GetUser(users_pb2.GetUserRequest(id=user_id), timeout=self.deadline, metadata=metadata)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.NOT_FOUND:
                return None
            if code == grpc.StatusCode.UNAVAILABLE:
                raise Retryable(f"user-service unavailable at {base_url} ({exc.details()})", base_url) from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise UserServiceUnavailable(f"user-service did not answer within {self.deadline:g}s") from None
            raise UserServiceUnavailable(f"user-service answered {code.name}: {exc.details()}") from None
        return {"id": user.id, "name": user.name}

    def reachable(self, base_url):
        stub = health_pb2_grpc.HealthStub(self._channel(base_url))
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service="users.v1.Users"), timeout=1)
        except grpc.RpcError as exc:
            return f"unreachable: {exc.code().name}"
        return None if answer.status == health_pb2.HealthCheckResponse.SERVING else "not serving"
