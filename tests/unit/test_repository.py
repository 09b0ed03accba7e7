"""Static promises about the repository: configs, compose files, and the lesson in the diff."""

import ast
import difflib
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from dockermode.compose import compose_command, compose_env, port_mapping
from localmode import smoke
from localmode.demo import LocalDemo
from localmode.process import ROOT
from localmode.programs import nginx
from localmode.programs.nginx import GATEWAY_TEMPLATE, render_template
from servicekit.companions import graceful_seconds

COMPOSE_FILES = [ROOT / "api-gateway-demo" / "docker-compose.yml", ROOT / "service-discovery" / "docker-compose.yml"]
CLUSTER_FILE = ROOT / "service-discovery" / "docker-compose.cluster.yml"


def test_local_render_equals_envsubst_render():
    """Local mode fills the template exactly as the nginx image's envsubst does in compose."""
    values = nginx.gateway_values(LocalDemo("gateway"))
    names = " ".join(f"${{{name}}}" for name in values)
    env = {**os.environ, **{k: str(v) for k, v in values.items()}}
    by_envsubst = subprocess.run(
        ["envsubst", names], input=GATEWAY_TEMPLATE.read_text(), env=env, capture_output=True, text=True, check=True
    ).stdout
    assert render_template(GATEWAY_TEMPLATE.read_text(), values) == by_envsubst
    assert not any(f"${{{name}}}" in by_envsubst for name in values)
    assert "$http_host" in by_envsubst and "$request_id" in by_envsubst  # nginx's own variables untouched


def test_local_nginx_listens_on_loopback_only(tmp_path, monkeypatch):
    """On a host a bare `listen 80` is every interface: local mode's gateway (and load balancer)
    must not serve the network; in compose the container's own port is the right thing."""
    from localmode.programs import load_balancer

    local = render_template(GATEWAY_TEMPLATE.read_text(), nginx.gateway_values(LocalDemo("gateway")))
    listens = re.findall(r"^\s*listen\s+([^;\s]+)", local, re.M)
    assert len(listens) == 2 and all(address.startswith("127.0.0.1:") for address in listens), listens
    monkeypatch.setenv("CONSUL_TEMPLATE_BIN", "consul-template")  # no build for this
    balancer = load_balancer.consul_template(LocalDemo("discovery", workdir=tmp_path))
    assert balancer.env["LOAD_BALANCER_PORT"] == "127.0.0.1:5004"
    assert 'listen {{ env "LOAD_BALANCER_PORT" }};' in load_balancer.TEMPLATE.read_text()


@pytest.mark.parametrize("auth, valid", [("off", True), ("on", True), ("yes", False)])
def test_template_is_valid_nginx_with_auth_on_or_off_only(tmp_path, auth, valid):
    demo = LocalDemo("gateway", workdir=tmp_path, service_env={"GATEWAY_AUTH": auth})
    process = nginx.gateway(demo)
    result = subprocess.run([*process.argv[:5], "-t"], capture_output=True, text=True)
    assert (result.returncode == 0) == valid, result.stderr


@pytest.mark.parametrize(
    "compose_file, services",
    [
        *[(f, {"user-service", "order-service"}) for f in COMPOSE_FILES],
        (CLUSTER_FILE, {"consul-server-1", "nats-3", "host-2", "user-service-3", "order-service-1"}),
    ],
    ids=lambda p: f"{p.parent.name}/{p.name}" if hasattr(p, "name") else "",
)
def test_compose_file_parses_and_every_service_has_a_healthcheck(compose_file, services, monkeypatch):
    """`compose config` (v2 or 1.29, whichever is installed) must accept the file users run."""
    monkeypatch.delenv("GRACEFUL_TIMEOUT", raising=False)  # its default, as the file leaves it
    result = subprocess.run([*compose_command(), "-f", str(compose_file), "config"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) >= services
    draining = []
    for name, service in config["services"].items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
        for dependency in (service.get("depends_on") or {}).values():
            assert dependency["condition"] == "service_healthy"
        # Published on loopback only, as local mode listens: the network reaches none of the demo.
        for mapping in map(port_mapping, service.get("ports") or []):
            assert mapping.get("host_ip") == "127.0.0.1", f"{name} publishes {mapping} beyond loopback"
        # A stopping service drains, then waits for calls under way: docker must not kill it first.
        if "GRACEFUL_TIMEOUT" in (service.get("environment") or {}):
            draining.append(name)
            grace = re.fullmatch(r"(\d+)s", str(service.get("stop_grace_period", "10s")))
            drain = 0.5  # DRAIN_SECONDS' default
            assert grace and int(grace[1]) > drain + graceful_seconds(), f"{name} may be killed while it drains"
    assert "order-service" in draining or "order-service-1" in draining  # the check saw the services


@pytest.mark.parametrize("compose", [["docker-compose"], ["docker", "compose"]], ids=["1.29", "v2"])
def test_both_composes_ports_read_alike(compose):
    """Compose 1.29 prints a port with a host IP as a string, v2 as a mapping: one reading."""
    file = COMPOSE_FILES[1]
    result = subprocess.run([*compose, "-f", str(file), "config"], capture_output=True, text=True, check=True)
    ports = yaml.safe_load(result.stdout)["services"]["order-service"]["ports"]
    assert [{k: port_mapping(p)[k] for k in ("host_ip", "published", "target")} for p in ports] == [
        {"host_ip": "127.0.0.1", "published": "5002", "target": 5002}
    ]


# What `make help` lists for a demo but compose has no use for: local mode's own switches, and
# ports compose does not publish (they stay inside the demo's network there).
LOCAL_MODE_ONLY = {"MODE", "NETNS", "INSTANCES", "RUN_DIR", "CLUSTER"}
UNPUBLISHED = {
    "gateway": {"USER_PORT", "ORDER_PORT", "NOTIFICATION_PORT", "NATS_PORT", "NATS_MONITOR_PORT", "GRPC_PORT"}
    | {"GATEWAY_GRPC_PORT", "REST_TO_GRPC_PORT"},
    "discovery": {"NATS_PORT", "NATS_MONITOR_PORT", "GRPC_PORT", "LOAD_BALANCER_PORT"},
}


@pytest.mark.parametrize(
    "demo, compose_file",
    [("gateway", COMPOSE_FILES[0]), ("discovery", COMPOSE_FILES[1]), ("discovery", CLUSTER_FILE)],
    ids=lambda p: f"{p.parent.name}/{p.name}" if hasattr(p, "name") else p,
)
def test_every_setting_make_names_reaches_the_compose_file(demo, compose_file):
    """`CONSUL_STALE_SECONDS=5 make discovery-demo` means the same with a Docker engine as without:
    each setting the demo's target reads, set to a value of its own, shows in `compose config`."""
    listed = re.search(rf"^{demo}-demo:.*## (.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    settings = sorted(set(listed) - LOCAL_MODE_ONLY - UNPUBLISHED[demo])
    values = {
        # (no value the prefix of another: SAGA's must not be found in SAGA_STEP_SECONDS's)
        name: str(31000 + i) if name.endswith("_PORT") else f"set-{name.lower()}-end"
        for i, name in enumerate(settings)
    }
    env = {k: v for k, v in compose_env(demo, values).items() if k not in ("COMPOSE_FILE", "COMPOSE_PROFILES")}
    result = subprocess.run(
        [*compose_command(), "-f", compose_file.name, "config"],
        cwd=compose_file.parent,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert [name for name, value in values.items() if value not in result.stdout] == []


def test_base_images_come_from_variables_defaulting_to_official_images():
    text = "\n".join(p.read_text() for p in COMPOSE_FILES)
    assert "${PYTHON_IMAGE:-python:3.11-slim}" in text
    assert "${NGINX_IMAGE:-nginx:1.30}" in text
    assert "${CONSUL_IMAGE:-hashicorp/consul:" in text


def test_consul_image_tag_matches_the_consul_build():
    build = (ROOT / "tools" / "build-consul.sh").read_text()
    version = re.search(r'CONSUL_VERSION="\$\{CONSUL_VERSION:-([\d.]+)\}"', build).group(1)
    assert f"hashicorp/consul:{version}}}" in COMPOSE_FILES[1].read_text()
    assert f"hashicorp/consul:{version}}}" in CLUSTER_FILE.read_text()


def test_nats_image_tags_match_the_nats_build():
    build = (ROOT / "tools" / "build-nats-server.sh").read_text()
    version = re.search(r'NATS_SERVER_VERSION="\$\{NATS_SERVER_VERSION:-([\d.]+)\}"', build).group(1)
    for compose_file in [*COMPOSE_FILES, CLUSTER_FILE]:
        assert f"${{NATS_IMAGE:-nats:{version}-alpine}}" in compose_file.read_text(), compose_file


def test_every_consul_config_turns_off_the_update_check():
    assert "disable_update_check = true" in (ROOT / "service-discovery" / "consul" / "consul.hcl").read_text()
    assert 'CHECKPOINT_DISABLE: "1"' in COMPOSE_FILES[1].read_text()
    for config in (ROOT / "service-discovery" / "cluster").glob("consul-*/*.hcl"):
        assert "disable_update_check = true" in config.read_text(), config
    assert CLUSTER_FILE.read_text().count('CHECKPOINT_DISABLE: "1"') == 2  # servers and agents


def test_cluster_1_chooses_the_cluster_compose_file(monkeypatch):
    from dockermode.compose import CLUSTER_FILE as chosen
    from dockermode.compose import compose_env

    monkeypatch.delenv("COMPOSE_FILE", raising=False)
    assert compose_env("discovery", {"CLUSTER": "1"})["COMPOSE_FILE"] == chosen == CLUSTER_FILE.name
    assert "COMPOSE_FILE" not in compose_env("discovery", {"CLUSTER": "0"})
    assert "COMPOSE_FILE" not in compose_env("gateway", {"CLUSTER": "1"})  # the gateway demo has one file


def code_lines(path):
    """The module's lines after its docstring."""
    tree = ast.parse(path.read_text())
    return path.read_text().splitlines()[tree.body[1].lineno - 1 :]


def test_the_two_order_services_differ_only_in_how_they_find_user_service():
    gateway = code_lines(ROOT / "api-gateway-demo" / "order-service" / "app.py")
    discovery = code_lines(ROOT / "service-discovery" / "order-service" / "app.py")
    changed = [
        line[1:]
        for line in difflib.unified_diff(gateway, discovery, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---")) and line[1:].strip()
    ]
    assert changed, "the diff must show the change"
    assert all(re.search(r"through_gateway|through_consul|register_with_consul", line) for line in changed), changed
    for folder in ("api-gateway-demo", "service-discovery"):
        assert [p.name for p in (ROOT / folder / "order-service").iterdir() if p.name != "__pycache__"] == ["app.py"]


def test_shared_code_lives_once():
    """No service folder carries its own copy of servicekit code."""
    for app in ROOT.glob("*/*-service/app.py"):
        assert len(app.read_text().splitlines()) <= 15, f"{app} grew beyond a thin entry point"
    # Each demo folder: an app.py per service, nothing else in Python.
    entry_points = sorted(str(p.relative_to(ROOT)) for p in Path(ROOT).glob("*/*-service/*.py"))
    assert entry_points == [
        f"{demo}/{service}/app.py"
        for demo in ("api-gateway-demo", "service-discovery")
        for service in ("notification-service", "order-service", "user-service")
    ]


def test_every_console_block_is_run_by_a_test():
    """A block says which test runs it (`smoke` and `docker-output`: a test asks for it by name,
    and the whole suite fails if none did: tests/conftest.py) or which script (`run-by`: the
    script runs its commands), so no command in the docs goes untried."""
    for path in smoke.DOC_FILES:
        text = path.read_text()
        marked = smoke.MARKED_BLOCK.findall(text)
        assert len(marked) == text.count("```console"), f"{path.name}: a ```console block without a marker"
        for kind, name, body in marked:
            if kind == "run-by":
                script = (ROOT / name).read_text()
                assert all(line[2:] in script for line in body.splitlines() if line.startswith("$ ")), name


def test_a_block_no_test_asks_for_is_reported(monkeypatch):
    monkeypatch.setattr(smoke, "ASKED", set())
    assert ("smoke", "gateway") in smoke.untried_blocks()
    assert smoke.examples("gateway")
    assert ("smoke", "gateway") not in smoke.untried_blocks()
    assert ("docker-output", "gateway") in smoke.untried_blocks()


def test_the_lesson_block_shows_the_real_diff():
    examples = smoke.examples("lesson")
    for (command, expected), actual in zip(examples, smoke.run(examples, cwd=ROOT), strict=True):
        assert smoke.matches(actual, expected), (command, actual)


@pytest.mark.parametrize("command", [["docker", "compose"], ["docker-compose"]], ids=["v2", "1.29"])
def test_the_services_up_starts_are_those_of_the_active_profiles(monkeypatch, command):
    """What `make` waits to be healthy: compose 1.29's `config` lists a profile's services even
    when the profile is off, and a wait for them would never end."""
    from dockermode import compose

    monkeypatch.setattr(compose, "compose_command", lambda: command)
    for name in ("COMPOSE_PROFILES", "USER_API", "DISCOVERY", "CLUSTER", "COMPOSE_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert "rest-to-grpc" not in compose.active_services("gateway")
    assert "rest-to-grpc" in compose.active_services("gateway", {"USER_API": "grpc"})
    assert "load-balancer" not in compose.active_services("discovery")
    assert "load-balancer" in compose.active_services("discovery", {"DISCOVERY": "server"})
