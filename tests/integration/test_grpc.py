"""USER_API=grpc end to end: the lookup goes over gRPC (through nginx's gRPC port in the gateway
demo, found in Consul with a native gRPC check in the discovery demo), and no side door on it."""

import contextlib
import json
import os
import signal
import uuid
from pathlib import Path

import grpc
import pytest
import requests

from communication.synchronous.grpc_stubs import load
from localmode.demo import LocalDemo
from localmode.sockets import descendants
from localmode.wait import wait_until

from ..conftest import TEST_PORTS
from .conftest import order_rows, post_json

users_pb2, users_pb2_grpc = load()
DEMO_CLIENT = {"client_id": "demo", "client_secret": "demo-secret"}


def log_entries(demo, name):
    return [
        json.loads(x) for x in (demo.workdir / "logs" / f"{name}.log").read_text().splitlines() if x.startswith("{")
    ]


@contextlib.contextmanager
def http_side_stopped(demo):
    """user-service's gunicorn (master and workers) SIGSTOPped; its gRPC process goes on."""
    grpc_side = grpc_processes(demo)
    http_side = [pid for pid in descendants(demo.processes["user-service"].popen.pid) if pid not in grpc_side]
    for pid in http_side:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in http_side:
            os.kill(pid, signal.SIGCONT)


def test_the_order_looks_up_its_user_over_grpc_through_the_gateway(tmp_path, http):
    with LocalDemo("gateway", workdir=tmp_path, ports=TEST_PORTS, service_env={"USER_API": "grpc"}) as demo:
        post_json(http, f"{demo.gateway_url}/users", {"name": "Alice"})
        trip = uuid.uuid4().hex
        order = post_json(
            http, f"{demo.gateway_url}/orders", {"user_id": 1, "item": "Book"}, headers={"X-Request-ID": trip}
        )
        assert order.status_code == 201 and order.json() == {"id": 1, "user_id": 1, "item": "Book"}

        def grpc_hops():
            hops = [e for e in log_entries(demo, "api-gateway") if e.get("request_id") == trip]
            return [e["path"] for e in hops]

        # nginx proxied the lookup as a gRPC call, and user-service's gRPC API answered it.
        wait_until(lambda: "/users.v1.Users/GetUser" in grpc_hops(), 5, "nginx's log line of the gRPC call")
        calls = [e for e in log_entries(demo, "user-service") if e.get("msg") == "call" and e.get("request_id") == trip]
        assert [(c["method"], c["code"]) for c in calls] == [("/users.v1.Users/GetUser", "OK")]
        unknown = post_json(http, f"{demo.gateway_url}/orders", {"user_id": 42, "item": "Book"})
        assert unknown.status_code == 422 and unknown.json() == {"error": "user 42 does not exist"}
        ready = http.get(f"{demo.order_url}/health/ready", timeout=5).json()
        assert ready["user_service"] == "ok"  # gRPC's health service, through nginx
        with grpc.insecure_channel(f"127.0.0.1:{demo.ports.gateway_grpc}") as gateway:
            too_large = users_pb2.CreateUserRequest(name="x" * (2 * 1024 * 1024))  # past nginx's 1 MB
            try:
                users_pb2_grpc.UsersStub(gateway).CreateUser(too_large, timeout=5)
            except grpc.RpcError as exc:
                refused = exc
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused

        # The gRPC process dies: user-service's gunicorn starts it again, and the lookup goes on.
        (killed,) = grpc_processes(demo)
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: grpc_processes(demo) not in ([], [killed]), 15, "a new gRPC process")

        def order_placed():
            return post_json(http, f"{demo.gateway_url}/orders", {"user_id": 1, "item": "Pen"}).status_code == 201

        wait_until(order_placed, 15, "an order looked up over the new gRPC process", 0.2)


def grpc_processes(demo):
    """The pids of user-service's gRPC process (its gunicorn master's companion)."""
    found = []
    for pid in descendants(demo.processes["user-service"].popen.pid):
        with contextlib.suppress(OSError):  # gone meanwhile
            if b"users_grpc" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def test_with_gateway_auth_the_grpc_port_is_no_side_door(tmp_path, http):
    settings = {"USER_API": "grpc", "GATEWAY_AUTH": "on", "GATEWAY_READ_TIMEOUT": "2"}
    with LocalDemo("gateway", workdir=tmp_path, ports=TEST_PORTS, service_env=settings) as demo:
        token = http.post(f"{demo.gateway_url}/auth/token", json=DEMO_CLIENT, timeout=5).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert post_json(http, f"{demo.gateway_url}/users", {"name": "Alice"}, headers=auth).status_code == 201
        assert (
            post_json(http, f"{demo.gateway_url}/orders", {"user_id": 1, "item": "Book"}, headers=auth).status_code
            == 201
        )
        request = users_pb2.GetUserRequest(id=1)
        with grpc.insecure_channel(f"127.0.0.1:{demo.ports.user_grpc}") as direct:
            try:
                users_pb2_grpc.UsersStub(direct).GetUser(
                    request, timeout=5, metadata=[("authorization", f"Bearer {token}")]
                )
            except grpc.RpcError as exc:
                refused = exc
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
        assert refused.details() == "only the API gateway may call this service (GATEWAY_AUTH=on)"
        with grpc.insecure_channel(f"127.0.0.1:{demo.ports.gateway_grpc}") as gateway:
            stub = users_pb2_grpc.UsersStub(gateway)
            try:
                stub.GetUser(request, timeout=5)  # no token: the gateway refuses it
            except grpc.RpcError as exc:
                anonymous = exc
            assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
            assert stub.GetUser(request, timeout=5, metadata=[("authorization", f"Bearer {token}")]).name == "Alice"
            # The token check hanging (user-service's HTTP side stopped, its gRPC side serving) must
            # refuse the call: nginx's own 504 for the check is no "allowed".
            with http_side_stopped(demo), pytest.raises(grpc.RpcError) as hung:
                stub.GetUser(request, timeout=10, metadata=[("authorization", "Bearer forged")])  # answered: a bypass
            assert (hung.value.code(), hung.value.details()) == (
                grpc.StatusCode.UNAVAILABLE,
                "cannot verify the token: user-service unavailable",
            )
            demo.processes["user-service"].stop()  # no token can be checked now: UNAVAILABLE, not UNKNOWN
            try:
                stub.GetUser(request, timeout=5, metadata=[("authorization", f"Bearer {token}")])
            except grpc.RpcError as exc:
                unchecked = exc
            assert unchecked.code() == grpc.StatusCode.UNAVAILABLE
            assert unchecked.details() == "cannot verify the token: user-service unavailable"
        assert len(order_rows(demo)) == 1


def test_the_discovery_demo_finds_the_grpc_api_in_consul_by_its_grpc_check(tmp_path, http):
    with LocalDemo("discovery", workdir=tmp_path, ports=TEST_PORTS, service_env={"USER_API": "grpc"}) as demo:
        # One entry per instance: its gRPC port in the meta, checked by Consul's native gRPC check
        # beside the HTTP one (the instance passes when both its faces answer).
        entries = requests.get(f"{demo.consul_url}/v1/health/service/user-service?passing", timeout=5).json()
        assert [e["Service"]["Meta"] for e in entries] == [{"grpc_port": str(TEST_PORTS.user_grpc)}]
        assert sorted((c["Type"], c["Status"]) for c in entries[0]["Checks"] if c["ServiceName"]) == [
            ("grpc", "passing"),
            ("http", "passing"),
        ]
        post_json(http, f"{demo.user_url}/users", {"name": "Alice"})
        assert post_json(http, f"{demo.order_url}/orders", {"user_id": 1, "item": "Book"}).status_code == 201
        calls = [e for e in log_entries(demo, "user-service") if e.get("msg") == "call"]
        assert [c["method"] for c in calls] == ["/users.v1.Users/GetUser"]
