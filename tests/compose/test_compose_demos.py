"""The compose files users run, run for real: healthchecks, README commands, volumes, scaling."""

import os
import re
import socket
import subprocess
import sys

import pytest
import requests
import yaml

from dockermode import compose as demos
from localmode import smoke
from localmode.demo import FOLDERS
from localmode.programs.nginx import GATEWAY_TEMPLATE, render_template
from localmode.wait import wait_until


def wait_for(predicate, timeout, what):
    """Compose is slower than local mode: poll every half second."""
    wait_until(predicate, timeout, what, interval=0.5)


def passing(service):
    body = requests.get(f"http://127.0.0.1:8500/v1/health/service/{service}?passing=true", timeout=5).json()
    return [(e["Service"]["Address"], e["Service"]["Port"]) for e in body]


def container(demo, service, env, index=1):
    ids = demos.compose(demo, "ps", "-q", service, env=env, capture=True).stdout.split()
    names = subprocess.run(["docker", "inspect", "--format", "{{.Name}}", *ids], capture_output=True, text=True).stdout
    return sorted(n.lstrip("/") for n in names.split())[index - 1]


# The official image each compose file names, and what its stand-in must print to be that version.
IMAGE_VERSIONS = {
    "NGINX_IMAGE": (r"nginx:([\d.]+)", ["nginx", "-v"], "nginx version: nginx/{}."),
    "PYTHON_IMAGE": (r"python:([\d.]+)-slim", ["python3", "--version"], "Python {}."),
    "CONSUL_IMAGE": (r"hashicorp/consul:([\d.]+)", ["consul", "version"], "Consul v{}\n"),
    "NATS_IMAGE": (r"nats:([\d.]+)-alpine", ["nats-server", "--version"], "nats-server: v{}\n"),
    "CONSUL_TEMPLATE_IMAGE": (
        r"hashicorp/consul-template:([\d.]+)",
        ["consul-template", "-version"],
        "consul-template v{} ",
    ),
}


@pytest.mark.parametrize("variable", IMAGE_VERSIONS)
def test_each_stand_in_image_is_the_version_its_official_image_names(image_env, variable):
    """The tests run the stand-ins, users the official images: the same versions, or the tests
    would vouch for something users do not run (nginx comes from Debian's moving sid)."""
    tag, argv, printed = IMAGE_VERSIONS[variable]
    files = [*(f / "docker-compose.yml" for f in FOLDERS.values()), FOLDERS["discovery"] / "docker-compose.cluster.yml"]
    named = {m for f in files for m in re.findall(rf"\${{{variable}:-{tag}}}", f.read_text())}
    assert len(named) == 1, named  # one version across the files
    run = ["docker", "run", "--rm", "--network", "none", "--entrypoint", argv[0], image_env[variable], *argv[1:]]
    shown = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert (shown.stdout + shown.stderr).startswith(printed.format(*named)), shown.stdout + shown.stderr


@pytest.mark.parametrize("demo", ["gateway", "discovery"])
def test_readme_commands_against_the_compose_demo(compose_up, demo):
    health = compose_up(demo)
    assert set(health.values()) == {"healthy"}
    assert len(health) == 5  # the three services, the broker, and the gateway or Consul
    examples = smoke.examples(demo)
    for (command, expected), actual in zip(examples, smoke.run(examples), strict=True):
        assert smoke.matches(actual, expected), (command, actual)


@pytest.mark.parametrize("demo, block", [("gateway", "compose-gateway"), ("discovery", "compose-discovery")])
def test_each_demo_readme_runs_verbatim_in_its_folder(image_env, docker_engine, demo, block):
    """The demo folder's own README: `docker compose up --build --wait`, curl, `down -v`, as written."""
    folder = FOLDERS[demo]
    examples = smoke.examples(block, files=[folder / "README.md"])
    assert [c for c, _ in examples][0].startswith("docker compose up") and len(examples) == 5
    env = {**os.environ, **image_env}
    try:
        outputs = smoke.run(examples, timeout=600, cwd=folder, env=env)
    finally:
        demos.compose_down(demo, env=image_env, volumes=True)
    for (command, expected), actual in zip(examples, outputs, strict=True):
        assert smoke.matches(actual, expected), (command, actual)


def test_gateway_renders_the_same_config_as_local_mode(compose_up, image_env):
    """The nginx image's envsubst and local mode's render give the same file for the same values."""
    compose_up("gateway")
    name = container("gateway", "api-gateway", image_env)
    in_container = subprocess.run(
        ["docker", "exec", name, "cat", "/etc/nginx/conf.d/default.conf"], capture_output=True, text=True, check=True
    ).stdout
    config = yaml.safe_load(demos.compose("gateway", "config", env=image_env, capture=True).stdout)
    values = config["services"]["api-gateway"]["environment"]
    assert set(values) >= {"USER_SERVICE_ADDR", "GATEWAY_AUTH", "GATEWAY_CACHE_DIR"}
    # resolve.envsh, sourced by the image's entrypoint, adds what GATEWAY_RESOLVE=follow needs.
    values["GATEWAY_UPSTREAM_RESOLVE"] = "resolve"
    assert in_container == render_template(GATEWAY_TEMPLATE.read_text(), values)
    assert "server user-service:5001 max_fails=1 fail_timeout=10s resolve;" in in_container


def test_user_survives_a_container_restart(compose_up, image_env):
    compose_up("gateway")
    assert requests.post("http://127.0.0.1/users", json={"name": "Alice"}, timeout=10).status_code == 201
    demos.compose("gateway", "restart", "user-service", env=image_env)
    demos.wait_healthy("gateway", env=image_env)
    assert requests.get("http://127.0.0.1/users/1", timeout=10).json() == {"id": 1, "name": "Alice"}


def test_services_run_as_non_root_with_gunicorn_as_pid_1(compose_up, image_env):
    compose_up("gateway")
    name = container("gateway", "user-service", image_env)
    assert subprocess.run(["docker", "exec", name, "id", "-u"], capture_output=True, text=True).stdout.strip() != "0"
    cmdline = subprocess.run(["docker", "exec", name, "cat", "/proc/1/cmdline"], capture_output=True, text=True).stdout
    assert "gunicorn" in cmdline  # exec form: SIGTERM reaches gunicorn, not a shell


def test_discovery_scale_to_two_then_lose_one(compose_up, image_env):
    env = {**image_env, "USER_SERVICE_PORTS": "5101-5102"}
    compose_up("discovery", USER_SERVICE_PORTS="5101-5102")
    demos.compose("discovery", "up", "-d", "--scale", "user-service=2", "--no-recreate", env=env)
    wait_for(lambda: len(passing("user-service")) == 2, 60, "2 passing user-service instances")
    instances = passing("user-service")
    assert len({address for address, _ in instances}) == 2  # each registered its own container address

    assert requests.post("http://127.0.0.1:5101/users", json={"name": "Alice"}, timeout=10).status_code == 201
    victim = container("discovery", "user-service", env, index=2)
    subprocess.run(["docker", "kill", victim], check=True, capture_output=True)  # no deregistration
    wait_for(lambda: len(passing("user-service")) == 1, 30, "Consul to mark the killed instance critical")

    results = [
        requests.post("http://127.0.0.1:5002/orders", json={"user_id": 1, "item": "Book"}, timeout=10).status_code
        for _ in range(20)
    ]
    assert results == [201] * 20


def shown_lines(output):
    """What make prints and the README shows of it: the mode line, then each container's health
    (the build log between them the README elides with `...`)."""
    return [line for line in output.splitlines() if line.startswith("Mode: ") or line.endswith(")")]


def readme_docker_lines(demo):
    """The lines the README shows for `make <demo>-demo` in docker mode."""
    (block,) = smoke.blocks("docker-output", demo)
    return shown_lines(block)


def test_make_targets_switch_demos_cleanly_and_print_what_the_readme_shows(image_env, docker_engine):
    env = {**os.environ, **image_env, "MODE": "docker"}
    try:
        for target, running, stopped in [
            ("gateway-demo", "gateway", "discovery"),
            ("discovery-demo", "discovery", "gateway"),
        ]:
            out = subprocess.run(["make", target], cwd=smoke.ROOT, env=env, capture_output=True, text=True)
            assert out.returncode == 0, out.stdout + out.stderr
            assert set(demos.container_health(running, env=env).values()) == {"healthy"}
            assert demos.container_health(stopped, env=env) == {}
            shown = readme_docker_lines(running)
            assert shown[0].startswith("Mode: docker") and len(shown) == 1 + 5
            assert shown_lines(out.stdout) == shown
    finally:
        subprocess.run(["make", "down"], cwd=smoke.ROOT, env=env, capture_output=True)
        for demo in FOLDERS:
            demos.compose_down(demo, env=env, volumes=True)
    assert all(demos.container_health(d, env=env) == {} for d in FOLDERS)


def docker_logs(name):
    out = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
    return out.stdout + out.stderr


def lookups_served(demo, env):
    """GET /users/1 served per user-service container, from each container's own JSON log."""
    counts = {}
    for index in (1, 2):
        name = container(demo, "user-service", env, index=index)
        logs = docker_logs(name)
        counts[name] = sum(1 for line in logs.splitlines() if '"path": "/users/1"' in line)
    return counts


@pytest.mark.parametrize("flavour", ["dns", "server"])
def test_discovery_flavours_in_compose(compose_up, image_env, flavour):
    """DNS-based (SRV from Consul's DNS) and server-side (the load balancer) in the compose demo:
    two instances share the lookups, one is killed, orders keep succeeding."""
    settings = {"DISCOVERY": flavour, "USER_SERVICE_PORTS": "5101-5102"}
    env = {**image_env, **settings}
    health = compose_up("discovery", **settings)
    assert ("load-balancer-1" in health) == (flavour == "server")
    demos.compose("discovery", "up", "-d", "--scale", "user-service=2", "--no-recreate", env=env)
    wait_for(lambda: len(passing("user-service")) == 2, 60, "2 passing user-service instances")
    assert requests.post("http://127.0.0.1:5101/users", json={"name": "Alice"}, timeout=10).status_code == 201

    def orders(n):
        with requests.Session() as http:
            return [
                http.post("http://127.0.0.1:5002/orders", json={"user_id": 1, "item": "Book"}, timeout=10).status_code
                for _ in range(n)
            ]

    # Both instances get lookups: the flavour really balances (the load balancer's nginx reloads
    # when consul-template sees the second instance, a DNS answer lists both).
    wait_for(lambda: orders(10) == [201] * 10 and min(lookups_served("discovery", env).values()) > 0, 60, "both used")
    if flavour == "server":
        lb = container("discovery", "load-balancer", env)
        assert '"path":"/users/1"' in docker_logs(lb)

    victim = container("discovery", "user-service", env, index=2)
    subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
    wait_for(lambda: len(passing("user-service")) == 1, 30, "Consul to mark the killed instance critical")
    assert orders(20) == [201] * 20


def test_gateway_follows_scaling_through_dockers_dns(compose_up, image_env):
    """--scale user-service=2 behind the gateway: nginx's upstream follows the name (`resolve`,
    GATEWAY_RESOLVE=follow, the default) and sends lookups to both."""
    compose_up("gateway")
    assert requests.post("http://127.0.0.1/users", json={"name": "Alice"}, timeout=10).status_code == 201
    demos.compose("gateway", "up", "-d", "--scale", "user-service=2", "--no-recreate", env=image_env)
    demos.wait_healthy("gateway", env=image_env)
    gateway = container("gateway", "api-gateway", image_env)

    def upstreams():
        with requests.Session() as http:
            for _ in range(10):
                assert http.get("http://127.0.0.1/users/1", headers={"Cache-Control": "no-cache"}, timeout=10).ok
        lines = [line for line in docker_logs(gateway).splitlines() if '"path":"/users/1"' in line]
        return {re.search(r'"upstream":"([^"]+)"', line).group(1) for line in lines}

    wait_for(lambda: len(upstreams()) >= 2, 30, "lookups on both user-service containers")


def localmode_up(demo, env):
    """`make <demo>-demo` as make runs it, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "localmode", "up", demo],
        cwd=smoke.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_compose_failure_is_one_clear_line(image_env, docker_engine):
    """No Python traceback after compose's own error: one line saying what failed."""
    env = {**os.environ, **image_env, "MODE": "docker", "PYTHON_IMAGE": "microservices-demo/no-such-image:0"}
    try:
        result = localmode_up("gateway", env)
    finally:
        demos.compose_down("gateway", env=env, volumes=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("compose failed: ")


def test_a_container_that_exits_at_its_start_fails_the_start(image_env, docker_engine):
    """A gateway that exits at once (a rate nginx cannot read) is not a healthy demo: the start
    fails and names it, though `compose up -d` itself succeeded (nothing waits on the gateway)."""
    env = {**os.environ, **image_env, "MODE": "docker", "GATEWAY_RATE_LIMIT": "fast"}
    try:
        result = localmode_up("gateway", env)
    finally:
        demos.compose_down("gateway", env=env, volumes=True)
    assert result.returncode == 1, result.stdout
    assert "'api-gateway-1': 'exited'" in result.stderr.strip().splitlines()[-1]
    assert 'invalid rate "rate=fast"' in result.stdout + result.stderr  # nginx's own line, from the logs


def test_a_taken_port_stops_the_compose_demo_before_anything_starts(image_env, docker_engine):
    """The README's advice holds with a Docker engine too: one line names the port, what holds
    it and the variable that moves it; no container is made."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        # The other published ports moved too: a Consul of the user's on 8500 is not the point.
        moved = {"CONSUL_PORT": "16500", "USER_PORT": "16001", "NOTIFICATION_PORT": "16003"}
        env = {**os.environ, **image_env, "MODE": "docker", **moved, "ORDER_PORT": str(port)}
        try:
            result = localmode_up("discovery", env)
        finally:
            leftovers = demos.container_health("discovery", env=env)
            demos.compose_down("discovery", env=env, volumes=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"cannot start: port {port} (order-service, published) is taken by python (pid {os.getpid()}): stop it, or "
        f"move the demo: ORDER_PORT={port + 1000} make discovery-demo"
    )
    assert leftovers == {}


def test_make_smoke_finds_the_compose_demo_on_a_moved_port(image_env, docker_engine):
    """GATEWAY_PORT=18081 moves the published port; `make smoke` from another shell (without
    the variable) sends the README's commands there, as it does in local mode."""
    env = {**os.environ, **image_env, "MODE": "docker"}
    localmode = [sys.executable, "-m", "localmode"]
    try:
        demos.compose_down("gateway", env=env, volumes=True)
        up = localmode_up("gateway", {**env, "GATEWAY_PORT": "18081"})
        assert up.returncode == 0, up.stdout + up.stderr
        smoked = [*localmode, "smoke"]
        result = subprocess.run(smoked, cwd=smoke.ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        demos.compose_down("gateway", env=env, volumes=True)
    assert result.stdout.strip().splitlines()[-1] == '{"demo": "gateway", "failures": 0}', result.stdout
    assert "http://localhost:18081/users" in result.stdout


def test_with_gateway_auth_nothing_but_the_gateway_reaches_the_services(compose_up, image_env):
    config = yaml.safe_load(demos.compose("gateway", "config", env=image_env, capture=True).stdout)
    assert not config["services"]["user-service"].get("ports") and not config["services"]["order-service"].get("ports")
    compose_up("gateway", GATEWAY_AUTH="on")
    env = {**image_env, "GATEWAY_AUTH": "on"}
    inside = container("gateway", "order-service", env)
    probe = (
        "import urllib.request, urllib.error\n"
        "try:\n    urllib.request.urlopen('http://user-service:5001/users', timeout=5)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code, e.read().decode())\n"
    )
    direct = subprocess.run(["docker", "exec", inside, "python", "-c", probe], capture_output=True, text=True)
    assert direct.stdout.strip() == '403 {"error":"only the API gateway may call this service (GATEWAY_AUTH=on)"}'
    assert requests.get("http://127.0.0.1/users", timeout=10).status_code == 401
    login = {"client_id": "demo", "client_secret": "demo-secret"}
    token = requests.post("http://127.0.0.1/auth/token", json=login, timeout=10).json()["access_token"]
    assert requests.get("http://127.0.0.1/users", headers={"Authorization": f"Bearer {token}"}, timeout=10).ok


def test_the_saga_walk_in_compose(compose_up):
    """docs/saga.md's walk, verbatim, against the compose gateway demo with an orchestrated saga."""
    compose_up("gateway", SAGA="orchestration")
    examples = smoke.examples("saga")
    for (command, expected), actual in zip(examples, smoke.run(examples), strict=True):
        assert smoke.matches(actual, expected), (command, actual)


def test_make_events_reads_the_history_in_compose(compose_up, image_env):
    """`make events` in docker mode: the replay runs inside the demo's network (NATS is not published)."""
    compose_up("gateway")
    assert requests.post("http://127.0.0.1/users", json={"name": "Alice"}, timeout=10).status_code == 201
    for item in ("Book", "Pen"):
        assert (
            requests.post("http://127.0.0.1/orders", json={"user_id": 1, "item": item}, timeout=10).status_code == 201
        )
    assert requests.get("http://127.0.0.1/notifications?order_id=2&wait=5", timeout=10).json()
    env = {**smoke.user_shell_env(), **image_env, "MODE": "docker"}
    out = subprocess.run(["make", "events"], cwd=smoke.ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:3] == [
        "ORDERS: 2 message(s), read from the first by a new subscriber",
        '    1  orders.created   {"order_id": 1, "user_id": 1, "user_name": "Alice", "item": "Book"}',
        '    2  orders.created   {"order_id": 2, "user_id": 1, "user_name": "Alice", "item": "Pen"}',
    ]


@pytest.mark.parametrize("demo", ["gateway", "discovery"])
def test_the_readme_walk_over_grpc_in_compose(compose_up, demo):
    """USER_API=grpc in compose: the README's walk gives the same answers, the lookup over gRPC."""
    health = compose_up(demo, USER_API="grpc")
    assert set(health.values()) == {"healthy"}
    assert ("rest-to-grpc-1" in health) == (demo == "gateway")  # the translation: the gateway's
    examples = smoke.examples(demo)
    for (command, expected), actual in zip(examples, smoke.run(examples), strict=True):
        assert smoke.matches(actual, expected), (command, actual)


def test_the_translation_in_compose(compose_up):
    compose_up("gateway", USER_API="grpc")
    examples = smoke.examples("grpc-translation")
    for (command, expected), actual in zip(examples, smoke.run(examples), strict=True):
        assert smoke.matches(actual, expected), (command, actual)
