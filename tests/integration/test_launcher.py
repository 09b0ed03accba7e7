"""The launcher never leaves a demo behind and never calls a stranger's server "up": a taken port
stops the start, `make down` and Ctrl-C stop a demo that is still starting, one launcher per
checkout, and a killed launcher's processes are still found."""

import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from localmode import control, sockets
from localmode.ports import Ports
from localmode.process import ROOT, http_ok
from localmode.wait import wait_until

from ..conftest import TEST_PORTS, ports_env


def environment(**extra):
    """A user's shell, in local mode, on the test ports."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return {**env, "MODE": "local", **ports_env(), **extra}


def our_ports(ports=TEST_PORTS):
    return [ports.gateway, ports.user, ports.order, ports.consul, ports.consul_dns]


def nothing_left(ports=TEST_PORTS):
    """No launcher recorded alive, and nobody listens on the demo's ports."""
    assert control.running_demo() is None
    listening = {port: sockets.holders(port) for port in our_ports(ports)}
    assert all(not holders for holders in listening.values()), listening


@pytest.fixture
def clean_slate():
    assert control.running_demo() is None, "a local demo runs (make down first)"
    yield
    subprocess.run([sys.executable, "-m", "localmode", "down"], cwd=ROOT, env=environment(), capture_output=True)
    nothing_left()


class Impostor(http.server.BaseHTTPRequestHandler):
    """Another program's server that even answers /health as our gateway would."""

    def do_GET(self):  # noqa: N802
        body = json.dumps({"status": "ok", "service": "api-gateway"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_taken_port_80_stops_make_gateway_demo_within_seconds_with_one_line(clean_slate):
    doc = Ports()
    for port in (doc.gateway, doc.user, doc.order):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is in use (a demo running? `make down`)"
    server = http.server.ThreadingHTTPServer(("0.0.0.0", doc.gateway), Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        env = {k: v for k, v in environment().items() if k not in ports_env()}  # the doc's ports
        result = subprocess.run(["make", "gateway-demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    print(f"make gateway-demo with port 80 taken: exit {result.returncode} after {took:.1f} s\n{result.stderr}")
    assert result.returncode != 0
    assert took < 15
    # The holder is this test's own process, which runs the impostor.
    assert re.search(rf"cannot start: port 80 \(API gateway\) is taken by \S+ \(pid {os.getpid()}\)", result.stderr)
    assert "GATEWAY_PORT=8080 make gateway-demo" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    nothing_left(doc)


def start_up(demo, **extra):
    """`python -m localmode up <demo>` as make runs it, in a process group of its own (a terminal's)."""
    return subprocess.Popen(
        [sys.executable, "-m", "localmode", "up", demo],
        cwd=ROOT,
        env=environment(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def up_and_running(demo, timeout=120, **extra):
    """`python -m localmode up <demo>` (start_up) through to its exit: the demo is up."""
    up = start_up(demo, **extra)
    out, err = up.communicate(timeout=timeout)
    assert up.returncode == 0, out + err


def wait_while_starting(up):
    """Until the launcher's record says it is starting and has started at least one process."""

    def starting():
        state = control.recorded()
        assert up.poll() is None, up.communicate()
        return state and state["state"] == "starting" and state["processes"]

    wait_until(starting, 30, "the launcher to record a demo that is still starting")
    return control.recorded()


def test_make_down_stops_a_demo_that_is_still_starting(clean_slate):
    up = start_up("discovery")
    seen = wait_while_starting(up)
    down = subprocess.run(["make", "down"], cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=90)
    assert down.returncode == 0 and "stopped the local discovery demo" in down.stdout, down.stdout + down.stderr
    assert up.wait(60) != 0  # it never came up
    assert not control.alive(seen["pid"])
    nothing_left()


def test_ctrl_c_during_make_discovery_demo_stops_what_was_starting(clean_slate):
    make = subprocess.Popen(
        ["make", "discovery-demo"],
        cwd=ROOT,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    seen = wait_while_starting(make)
    os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does: the whole foreground group
    _, err = make.communicate(timeout=90)
    assert make.returncode != 0
    assert "interrupted: stopping what was starting" in err
    wait_until(lambda: not control.alive(seen["pid"]), 30, "the launcher to finish its cleanup")
    nothing_left()


def test_one_launcher_per_checkout(clean_slate, tmp_path):
    up_and_running("gateway")
    first = control.running_demo()
    other = {**environment(), **ports_env(Ports(gateway=18090, user=15101, order=15102, consul=18600))}
    second = subprocess.run(
        [sys.executable, "-m", "localmode", "run", "gateway", "--workdir", str(tmp_path)],
        cwd=ROOT,
        env=other,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert f"another local demo launcher runs in this checkout (pid {first['pid']}, the gateway demo)" in second.stderr
    assert control.running_demo() == first  # its record is untouched
    assert not any(sockets.holders(port) for port in (18090, 15101, 15102))  # and it started nothing


@pytest.mark.parametrize("demo, settings", [("gateway", {}), ("discovery", {"DISCOVERY": "server"})])
def test_make_down_stops_what_a_killed_launcher_left(clean_slate, demo, settings):
    """...an instance restarted before the launcher died included (it has a new pid), and the
    load balancer's nginx (consul-template starts it in a process group of its own)."""
    up_and_running(demo, **settings)
    restart = [sys.executable, "-m", "localmode", "restart", "user-service"]
    restarted = subprocess.run(restart, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120)
    assert "user-service restarted" in restarted.stdout, restarted.stdout + restarted.stderr
    state = control.running_demo()
    os.kill(state["pid"], signal.SIGKILL)  # the launcher dies; its processes, in sessions of their own, do not
    wait_until(lambda: not control.alive(state["pid"]), 10, "the launcher to die")
    entry = TEST_PORTS.gateway if demo == "gateway" else TEST_PORTS.load_balancer
    assert sockets.holders(entry) and sockets.holders(TEST_PORTS.user)
    down = subprocess.run(["make", "down"], cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=90)
    assert f"stopped the local {demo} demo" in down.stdout, down.stdout + down.stderr
    ports = [*our_ports(), TEST_PORTS.load_balancer]
    wait_until(lambda: not any(sockets.holders(p) for p in ports), 10, "the left processes to go")
    nothing_left()


def test_netns_without_root_is_one_clear_line(clean_slate):
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    result = subprocess.run(
        [*as_nobody, sys.executable, "-m", "localmode", "up", "gateway", "--netns"],
        cwd=ROOT,
        env={**environment(), "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "cannot start: NETNS=1 needs root (it makes network namespaces): sudo NETNS=1 make ..."
    ]


def test_make_smoke_finds_a_demo_on_moved_ports(clean_slate, tmp_path):
    """The README's advice for a taken port (GATEWAY_PORT=8080 make gateway-demo) and then its
    `make smoke`, typed in another shell without the variables: the README's commands go to the
    ports the demo took."""
    up_and_running("gateway", RUN_DIR=str(tmp_path))  # a fresh demo: the outputs are the README's
    other_shell = {k: v for k, v in environment().items() if k not in ports_env()}
    result = subprocess.run(["make", "smoke"], cwd=ROOT, env=other_shell, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == '{"demo": "gateway", "failures": 0}'
    assert f"http://localhost:{TEST_PORTS.gateway}/users" in result.stdout


def passing_user_services(ports=TEST_PORTS):
    """The addresses Consul lists as passing user-service instances."""
    ok, body = http_ok(f"http://127.0.0.1:{ports.consul}/v1/health/service/user-service?passing=true")
    return sorted(e["Service"]["Address"] for e in json.loads(body)) if ok else []


def test_starting_one_demo_stops_the_other(clean_slate):
    """As the README says: `make discovery-demo` stops the gateway demo, and the other way round."""
    for demo in ("gateway", "discovery", "gateway"):
        up_and_running(demo, timeout=180)
        assert control.running_demo()["demo"] == demo
        assert bool(sockets.holders(TEST_PORTS.gateway)) == (demo == "gateway")  # the other's nginx gone
        assert bool(sockets.holders(TEST_PORTS.consul)) == (demo == "discovery")  # ... or its Consul


def test_with_netns_the_launcher_restarts_a_crashed_instance_at_a_new_address(clean_slate):
    """docs/instances.md: `kill -9` an instance and the launcher starts it again, at a new address,
    as `restart: always` and a scheduler would; Consul lists the new one passing."""
    up_and_running("discovery", NETNS="1", timeout=180)
    (before,) = passing_user_services()
    pid = control.running_demo()["processes"]["user-service"][0]
    os.kill(pid, signal.SIGKILL)

    def moved():
        now = passing_user_services()
        return len(now) == 1 and now[0] != before

    wait_until(moved, 60, "user-service passing at a new address, alone", 0.2)
    assert control.running_demo()["processes"]["user-service"][0] != pid
