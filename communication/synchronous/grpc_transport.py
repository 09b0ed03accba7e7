"""The lookup over gRPC (USER_API=grpc): Users.GetUser on user-service's gRPC API, directly
(discovery demo) or through nginx (gateway demo).

The REST lookup's timeouts (connect, and read as the deadline), the request ID and the caller's
token as metadata, and the statuses mapped onto what the REST lookup means: NOT_FOUND is no such
user (the order is 422), UNAVAILABLE (refused, or no connection made in time) is worth another
instance (retried by UserClient), DEADLINE_EXCEEDED is 503 without a retry. Channels are made
lazily in the worker that uses them (never in gunicorn's master: a channel inherited across fork
can crash the worker), one per target, kept.
"""

import threading
from urllib.parse import urlsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .grpc_stubs import load
from .user_client import Retryable, UserServiceUnavailable, timeouts

users_pb2, users_pb2_grpc = load()


def channel_options():
    """A channel's settings. Its first connection (TCP, then HTTP/2's SETTINGS) is bounded by the
    connect timeout, as REST's socket is: gRPC takes its minimum reconnect backoff as its connect
    timeout (20 s by default, which would hold a call to a silent host until its deadline, not
    retried). After a failure a channel waits before it connects again, by default 1 s growing to
    120 s, answering UNAVAILABLE meanwhile: an instance back after a few seconds would go unseen
    for seconds more, and the circuit breaker's trial call would fail against a live instance. So
    a channel that answered UNAVAILABLE is dropped and the next call makes a new one, with a
    subchannel of its own (the global pool would hand back the old one, backoff and all), and a
    kept channel tries again within a second or the connect timeout."""
    connect_ms = round(timeouts()[0] * 1000)
    return [
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.initial_reconnect_backoff_ms", min(100, connect_ms)),
        ("grpc.min_reconnect_backoff_ms", connect_ms),
        ("grpc.max_reconnect_backoff_ms", max(1000, connect_ms)),
    ]


def _target(base_url):
    return urlsplit(base_url).netloc or base_url  # grpc://host:port -> host:port


class Channels:
    """One channel per target (host:port), made lazily in the worker that uses it and kept; a
    channel that answered UNAVAILABLE is dropped, so the next call connects anew (see above)."""

    def __init__(self):
        self._channels = {}
        self._lock = threading.Lock()

    def get(self, target):
        with self._lock:
            if target not in self._channels:
                self._channels[target] = grpc.insecure_channel(target, options=channel_options())
            return self._channels[target]

    def drop(self, target, channel):
        """Forget a failed channel; it closes once no call of another thread still uses it."""
        with self._lock:
            if self._channels.get(target) is channel:
                del self._channels[target]


def metadata(headers):
    """The request ID and the caller's token as gRPC metadata. gRPC carries printable ASCII
    only (a tab or a byte >= 0x80 would fail the call with a ValueError, not a status); such a
    value is no valid token or request ID, so it is not passed on: the call goes without it."""
    wanted = {k.lower(): v for k, v in headers.items() if k.lower() in ("x-request-id", "authorization")}
    return [(k, v) for k, v in wanted.items() if v and v.isascii() and v.isprintable()]


class GrpcTransport:
    def __init__(self):
        self.deadline = timeouts()[1]  # the read timeout; the connect timeout bounds channel_options()
        self.channels = Channels()

    def get_user(self, base_url, user_id, headers):
        target = _target(base_url)
        channel = self.channels.get(target)
        try:
            user = users_pb2_grpc.UsersStub(channel).GetUser(
                users_pb2.GetUserRequest(id=user_id), timeout=self.deadline, metadata=metadata(headers)
            )
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.NOT_FOUND:
                return None
            if code == grpc.StatusCode.UNAVAILABLE:
                self.channels.drop(target, channel)
                raise Retryable(f"user-service unavailable at {base_url} ({exc.details()})", base_url) from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:  # the next call connects anew, as REST's does
                self.channels.drop(target, channel)
                raise UserServiceUnavailable(f"user-service did not answer within {self.deadline:g}s") from None
            raise UserServiceUnavailable(f"user-service answered {code.name}: {exc.details()}") from None
        return {"id": user.id, "name": user.name}

    def reachable(self, base_url):
        stub = health_pb2_grpc.HealthStub(self.channels.get(_target(base_url)))
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service="users.v1.Users"), timeout=1)
        except grpc.RpcError as exc:
            return f"unreachable: {exc.code().name}"
        return None if answer.status == health_pb2.HealthCheckResponse.SERVING else "not serving"
