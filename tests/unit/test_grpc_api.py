"""user-service's gRPC API against a real gRPC server and client (no broker, no gateway): the
same rules as REST, the standard health service, reflection, and garbage that does no harm."""

import socket

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from communication.synchronous import rest_to_grpc
from communication.synchronous.grpc_stubs import load
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


def test_the_rest_translation_answers_a_wrong_method_405_and_an_unknown_query_422(address):
    client = rest_to_grpc.create_app(address, {"TESTING": True}).test_client()
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


def test_health_and_reflection(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "users.v1.Users"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in next(answers).list_services_response.service}
    assert {"users.v1.Users", "grpc.health.v1.Health"} <= names
