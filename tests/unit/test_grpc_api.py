"""user-service's gRPC API against a real gRPC server and client (no broker, no gateway): the
same rules as REST, the standard health service, reflection, and garbage that does no harm."""

import socket
import sqlite3
import time
from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from communication.synchronous import rest_to_grpc
from communication.synchronous.grpc_stubs import load
from servicekit.web import BUSY
from services import users, users_grpc

users_pb2, users_pb2_grpc = load()


@pytest.fixture
def address(tmp_path):
    """user-service's gRPC server on a free loopback port: its host:port."""
    database = tmp_path / "users.sqlite3"
    users.create_app({"TESTING": True, "DATABASE": str(database)})  # the schema, as the REST side makes it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server, _ = users_grpc.build_server(str(database), f"127.0.0.1:{port}")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0).wait()


@pytest.fixture
def channel(address):
    with grpc.insecure_channel(address) as chan:
        yield chan


def test_create_get_list(channel):
    stub = users_pb2_grpc.UsersStub(channel)
    assert stub.ListUsers(users_pb2.ListUsersRequest(), timeout=5).users == []
    alice = stub.CreateUser(users_pb2.CreateUserRequest(name="  Alice "), timeout=5)
    assert (alice.id, alice.name) == (1, "Alice")
    assert stub.GetUser(users_pb2.GetUserRequest(id=1), timeout=5).name == "Alice"
    assert [u.name for u in stub.ListUsers(users_pb2.ListUsersRequest(), timeout=5).users] == ["Alice"]


@pytest.mark.parametrize(
    "call, code, message",
    [
        (lambda s: s.GetUser(users_pb2.GetUserRequest(id=0)), grpc.StatusCode.INVALID_ARGUMENT, "'id' must be between"),
        (
            lambda s: s.GetUser(users_pb2.GetUserRequest(id=-5)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "'id' must be between",
        ),
        (lambda s: s.GetUser(users_pb2.GetUserRequest(id=42)), grpc.StatusCode.NOT_FOUND, "user 42 not found"),
        (
            lambda s: s.CreateUser(users_pb2.CreateUserRequest(name="")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "'name' must not be empty",
        ),
        (
            lambda s: s.CreateUser(users_pb2.CreateUserRequest(name="x" * 101)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "'name' must be at most 100 characters",
        ),
    ],
)
def test_bad_input_is_a_status_with_the_rest_apis_message(channel, call, code, message):
    with pytest.raises(grpc.RpcError) as error:
        call(users_pb2_grpc.UsersStub(channel))
    assert error.value.code() == code and message in error.value.details()


def test_garbage_and_wrong_methods_get_an_error_status_and_the_server_goes_on(channel):
    raw = channel.unary_unary("/users.v1.Users/GetUser", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as error:
        raw(b"\xff\xff\xff\xff not protobuf", timeout=5)  # malformed protobuf bytes
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # the caller's fault, not INTERNAL
    assert "not a valid GetUserRequest" in error.value.details()
    create = channel.unary_unary("/users.v1.Users/CreateUser", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as error:
        create(b"\x0a\x02\xff\xfe", timeout=5)  # field 1 (name): two bytes that are not UTF-8
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    missing = channel.unary_unary(
        "/users.v1.Users/DeleteEverything", request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.RpcError) as error:
        missing(b"", timeout=5)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    stub = users_pb2_grpc.UsersStub(channel)
    assert stub.CreateUser(users_pb2.CreateUserRequest(name="Bob"), timeout=5).id == 1  # still serving


def test_a_failure_inside_a_call_is_internal_without_its_text(channel, monkeypatch, caplog):
    def broken(db, user_id):
        raise sqlite3.OperationalError("no such table: users")

    monkeypatch.setattr(users_grpc, "find_user", broken)
    with pytest.raises(grpc.RpcError) as error:
        users_pb2_grpc.UsersStub(channel).GetUser(users_pb2.GetUserRequest(id=1), timeout=5)
    assert (error.value.code(), error.value.details()) == (grpc.StatusCode.INTERNAL, "internal error")
    logged = [r for r in caplog.records if r.name == "user-service-grpc"]
    assert any(r.exc_info for r in logged)  # the real cause, in the log
    assert logged[-1].code == "INTERNAL"  # the access line says what the caller got


def test_a_database_held_by_another_write_is_unavailable_as_rests_503(channel, monkeypatch):
    """REST answers 503 busy, try again; gRPC's UNAVAILABLE says the same (and is retried)."""

    def locked(db, user_id):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(users_grpc, "find_user", locked)
    with pytest.raises(grpc.RpcError) as error:
        users_pb2_grpc.UsersStub(channel).GetUser(users_pb2.GetUserRequest(id=1), timeout=5)
    assert (error.value.code(), error.value.details()) == (grpc.StatusCode.UNAVAILABLE, BUSY)


def test_the_rest_translation_answers_a_wrong_method_405_and_an_unknown_query_422(address):
    client = rest_to_grpc.create_app(address, {"TESTING": True}).test_client()
    assert client.get("/v1/users").get_json() == {"users": []}  # empty fields too, as grpc-gateway's
    assert client.post("/v1/users", json={"name": "Alice"}).status_code == 200
    wrong = client.put("/v1/users/1", json={"name": "Bob"})
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET, HEAD, OPTIONS" and wrong.is_json
    assert client.head("/v1/users/1").status_code == 200
    options = client.options("/v1/users/1")
    assert options.headers["Allow"] == "GET, HEAD, OPTIONS" and options.get_json() == {
        "allow": ["GET", "HEAD", "OPTIONS"]
    }
    assert client.get("/v1/users/1?x=1").status_code == 422
    assert client.delete("/v1/nothing").status_code == 404


@pytest.mark.parametrize(
    "request_kwargs, status, message",
    [
        ({"method": "POST", "path": "/v1/users", "json": {"name": ""}}, 422, "'name' must not be empty"),
        ({"method": "POST", "path": "/v1/users", "json": {}}, 422, "'name' is required"),
        ({"method": "POST", "path": "/v1/users", "json": {"name": None}}, 422, "'name' is required"),
        ({"method": "POST", "path": "/v1/users", "json": {"name": 5}}, 422, "does not fit CreateUserRequest"),
        ({"method": "POST", "path": "/v1/users", "json": {"nick": "A"}}, 422, "unknown field"),
        ({"method": "GET", "path": "/v1/users/abc"}, 404, "no gRPC method"),
        ({"method": "GET", "path": f"/v1/users/{2**64}"}, 404, "no /v1/users/"),
        ({"method": "GET", "path": "/v1/users/0"}, 404, "no gRPC method"),
        ({"method": "GET", "path": "/v1/users/-1"}, 404, "no gRPC method"),
        ({"method": "GET", "path": "/v1/users/+1"}, 404, "no gRPC method"),
        ({"method": "GET", "path": "/v1/users/1_0"}, 404, "no gRPC method"),
    ],
)
def test_the_rest_translation_answers_bad_input_as_the_rest_api_does(address, request_kwargs, status, message):
    client = rest_to_grpc.create_app(address, {"TESTING": True}).test_client()
    answer = client.open(**request_kwargs)
    assert answer.status_code == status and message in answer.get_json()["error"]


def test_a_header_grpc_cannot_carry_is_not_passed_on_instead_of_failing_the_call(address):
    """A tab or a byte >= 0x80 in Authorization: no valid token, so the call goes without it
    (with AUTH=on user-service then says 401, as for any invalid token) instead of a 500."""
    client = rest_to_grpc.create_app(address, {"TESTING": True}).test_client()
    assert client.post("/v1/users", json={"name": "Alice"}).status_code == 200
    for token in ("Bearer a\tb", "Bearer \u00e9"):
        answer = client.get("/v1/users/1", headers={"Authorization": token})
        assert answer.status_code == 200 and answer.get_json()["name"] == "Alice"


def test_the_rest_translation_reconnects_at_once_when_user_service_is_back(tmp_path):
    """Its channel, dropped after UNAVAILABLE, does not wait out its reconnect backoff once the
    server is back: the first call after the restart is answered."""
    database = tmp_path / "users.sqlite3"
    users.create_app({"TESTING": True, "DATABASE": str(database)})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        target = f"127.0.0.1:{s.getsockname()[1]}"
    client = rest_to_grpc.create_app(target, {"TESTING": True}).test_client()
    for _ in range(3):  # down: UNAVAILABLE each time, a channel dropped each time
        assert client.get("/v1/users").status_code == 503
    server, _ = users_grpc.build_server(str(database), target)
    server.start()
    try:
        assert client.get("/v1/users").status_code == 200
    finally:
        server.stop(0).wait()


def test_health_and_reflection(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "users.v1.Users"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in next(answers).list_services_response.service}
    assert {"users.v1.Users", "grpc.health.v1.Health"} <= names


def test_an_instance_that_never_completes_the_connection_is_left_for_the_next_within_the_connect_timeout(
    address, monkeypatch
):
    """A host that takes the TCP connection but never speaks HTTP/2 (as good as one that drops
    packets): gRPC alone would hold the call until its deadline (3 s) and then give up without a
    retry; bounded as REST's connect is (USER_SERVICE_CONNECT_TIMEOUT), the lookup goes to the
    next instance."""
    from communication.synchronous.grpc_transport import GrpcTransport
    from communication.synchronous.user_client import UserClient

    users_pb2_grpc.UsersStub(grpc.insecure_channel(address)).CreateUser(users_pb2.CreateUserRequest(name="Alice"))
    monkeypatch.setenv("USER_SERVICE_CONNECT_TIMEOUT", "0.5")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever reads or answers
        instances = iter([f"grpc://127.0.0.1:{silent.getsockname()[1]}", f"grpc://{address}"] * 3)
        client = UserClient(SimpleNamespace(base_url=lambda: next(instances)), GrpcTransport())
        started = time.monotonic()
        assert client.get_user(1) == {"id": 1, "name": "Alice"}
        assert time.monotonic() - started < 2.0


def test_a_streaming_method_the_gatekeeper_cannot_check_is_refused_not_let_through():
    """The Gatekeeper checks unary calls; a stream added to the API one day must not bypass the
    gateway's secret or the token: it is UNIMPLEMENTED until the Gatekeeper knows streams."""
    from concurrent import futures

    server = grpc.server(futures.ThreadPoolExecutor(2), interceptors=[users_grpc.Gatekeeper()])
    stream = grpc.unary_stream_rpc_method_handler(lambda request, context: iter([b"secret"]))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("users.v1.Users", {"Watch": stream})])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
            with pytest.raises(grpc.RpcError) as refused:
                list(chan.unary_stream("/users.v1.Users/Watch")(b"", timeout=5))
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(0).wait()
