"""The docs' console blocks (README.md and docs/*.md), run verbatim on the doc's ports against the
demo each is shown with, give the outputs the docs show."""

import socket
import subprocess

import pytest
import requests

from localmode import control, smoke
from localmode.demo import LocalDemo
from localmode.ports import Ports
from localmode.process import ROOT
from localmode.wait import wait_until


def assert_doc_ports_free(*extra):
    ports = Ports()
    wanted = (ports.gateway, ports.user, ports.order, ports.consul, *extra)
    busy = []
    for port in wanted:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    assert not busy, f"ports {busy} are in use (a demo running? `make down`); the docs' commands need them"


def assert_block_gives_its_output(name, timeout=60, env=None):
    examples = smoke.examples(name)
    assert examples, f"the docs lost their console block marked `smoke: {name}`"
    outputs = smoke.run(examples, timeout=timeout, cwd=ROOT, env=env)
    for (command, expected), actual in zip(examples, outputs, strict=True):
        assert smoke.matches(actual, expected), (command, actual)


def stop_user_service(demo):
    demo.processes["user-service"].stop()


def stop_consul_until_stale(demo):
    """Consul gone for longer than CONSUL_STALE_SECONDS: order-service stops trusting its view."""
    demo.processes["consul"].stop()

    def too_stale():
        response = requests.post(f"{demo.order_url}/orders", json={"user_id": 1, "item": "Book"}, timeout=5)
        return response.status_code == 503 and "too stale" in response.text

    wait_until(too_stale, 15, "order-service to call its view of Consul too stale", interval=0.5)


def run_block_first(name):
    """Before a block that goes on from another: that one's commands (their output not checked)."""
    return lambda demo: smoke.run(smoke.examples(name), cwd=ROOT)


# test id -> (docs block, demo, settings it is shown with, what happens before its commands)
BLOCKS = {
    "gateway": ("gateway", "gateway", {}, None),
    "discovery": ("discovery", "discovery", {}, None),
    "gateway-auth": ("gateway-auth", "gateway", {"GATEWAY_AUTH": "on"}, None),
    "discovery-auth": ("discovery-auth", "discovery", {"AUTH": "on"}, None),
    "failure-user-service-down": ("failure-user-service-down", "gateway", {}, stop_user_service),
    "failure-registry-down": (
        "failure-registry-down",
        "discovery",
        {"CONSUL_STALE_SECONDS": "5"},
        stop_consul_until_stale,
    ),
    "saga-choreography": ("saga", "gateway", {"SAGA": "choreography"}, None),
    "saga-orchestration": ("saga", "gateway", {"SAGA": "orchestration"}, None),
    "saga-discovery-choreography": ("saga-discovery", "discovery", {"SAGA": "choreography"}, None),
    "saga-discovery-orchestration": ("saga-discovery", "discovery", {"SAGA": "orchestration"}, None),
    "saga-log": ("saga-log", "gateway", {"SAGA": "orchestration"}, run_block_first("saga")),
    # USER_API=grpc: the same answers, the lookup over gRPC; and the translation at the gateway.
    "gateway-over-grpc": ("gateway", "gateway", {"USER_API": "grpc"}, None),
    "discovery-over-grpc": ("discovery", "discovery", {"USER_API": "grpc"}, None),
    "grpc-translation": ("grpc-translation", "gateway", {"USER_API": "grpc"}, None),
}


@pytest.mark.parametrize("test_id", BLOCKS)
def test_docs_commands_give_docs_outputs(test_id, tmp_path):
    block, demo_name, settings, before = BLOCKS[test_id]
    assert_doc_ports_free()
    with LocalDemo(demo_name, workdir=tmp_path, ports=Ports(), service_env=settings) as demo:
        if before:
            before(demo)
        assert_block_gives_its_output(block)


def make(*args, env=None):
    return subprocess.run(["make", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def user_shell(monkeypatch, tmp_path):
    """make as a user without Docker runs it, in local mode (the Docker engine the compose tests
    started is not asked), with the demo's data in a fresh folder rather than the checkout's .run/."""
    monkeypatch.setenv("MODE", "local")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.setenv("RUN_DIR", str(tmp_path / ".run"))


@pytest.mark.parametrize("block", ["gateway-up", "discovery-up"])
def test_make_demo_prints_what_the_readme_shows(block, user_shell):
    """`make gateway-demo` / `make discovery-demo` in local mode, as a user types it."""
    assert_doc_ports_free()
    try:
        assert_block_gives_its_output(block, timeout=300)
    finally:
        make("down")
    assert control.running_demo() is None


@pytest.mark.parametrize("demo_name, block", [("gateway", "gateway-netns"), ("discovery", "discovery-netns")])
def test_the_three_questions_with_instances_at_their_own_ips(demo_name, block, user_shell):
    """The blocks shown with `NETNS=1 INSTANCES=3 make <demo>-demo`: started with make, as a user
    does, and `make restart` talks to it as it does for a user."""
    assert_doc_ports_free(Ports().names)
    try:
        if demo_name == "discovery":
            assert_block_gives_its_output("discovery-netns-up", timeout=300)
        else:
            started = make("gateway-demo", env={**smoke.user_shell_env(), "NETNS": "1", "INSTANCES": "3"})
            assert started.returncode == 0, started.stdout + started.stderr
        assert_block_gives_its_output(block, timeout=120)
    finally:
        make("down")
    assert control.running_demo() is None


def test_make_events_replays_the_order_events(user_shell):
    """docs/messaging.md: a new subscriber, `make events`, reads the history of the running demo."""
    assert_doc_ports_free()
    try:
        started = make("gateway-demo", env=smoke.user_shell_env())
        assert started.returncode == 0, started.stdout + started.stderr
        assert_block_gives_its_output("messaging-events", timeout=60)
    finally:
        make("down")
    assert control.running_demo() is None
