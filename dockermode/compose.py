"""The demos' compose files, driven as a user would: up --build, wait for healthy, down."""

import dataclasses
import json
import os
import shutil
import subprocess

import yaml

from localmode import credentials
from localmode.demo import FOLDERS
from localmode.ports import PORT_VARIABLES, Ports
from localmode.wait import TimedOut, wait_until


def compose_command():
    """Compose v2 (`docker compose`) when present, else docker-compose 1.29; the files suit both."""
    v2 = (
        shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    )
    if v2:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("neither `docker compose` nor `docker-compose` is installed")


# CLUSTER=1: the discovery demo's other file (three Consul servers, three NATS servers, app hosts).
CLUSTER_FILE = "docker-compose.cluster.yml"


def compose_env(demo, env=None, everything=False):
    """The environment for compose: DISCOVERY=server turns on the load balancer's profile,
    USER_API=grpc the REST-to-gRPC translation's, CLUSTER=1 the discovery demo's cluster file;
    `everything` turns on every profile (so `down` removes all)."""
    env = {**os.environ, **(env or {})}
    if "USER_PORT" in env and "USER_SERVICE_PORTS" not in env:
        # The discovery file publishes user-service on USER_SERVICE_PORTS (a range when scaled);
        # `make`'s variable for it is USER_PORT, as in local mode.
        env["USER_SERVICE_PORTS"] = env["USER_PORT"]
    if demo == "discovery" and env.get("CLUSTER", "") not in ("", "0") and "COMPOSE_FILE" not in env:
        env["COMPOSE_FILE"] = CLUSTER_FILE
    wanted = {"server": env.get("DISCOVERY") == "server", "grpc": env.get("USER_API") == "grpc"}
    if everything or "COMPOSE_PROFILES" not in env:
        profiles = [p for p, on in wanted.items() if on or everything]
        if profiles:
            env["COMPOSE_PROFILES"] = ",".join(profiles)
    return env


def compose(demo, *args, env=None, check=True, capture=False):
    return subprocess.run(
        [*compose_command(), *args],
        cwd=FOLDERS[demo],
        env=compose_env(demo, env, everything=args[:1] == ("down",)),
        check=check,
        text=True,
        capture_output=capture,
    )


def active_services(demo, env=None):
    """{name: its configuration} of the services `up` starts: those of no profile or of an
    active one (compose 1.29's `config` lists them all, whatever COMPOSE_PROFILES says)."""
    config = yaml.safe_load(compose(demo, "config", env=env, capture=True).stdout)
    active = set(filter(None, compose_env(demo, env).get("COMPOSE_PROFILES", "").split(",")))
    return {
        name: service
        for name, service in config["services"].items()
        if not service.get("profiles") or active & set(service["profiles"])
    }


def _field_of(target):
    """The Ports field of a port in a container: there each service listens on the doc's port."""
    return {getattr(Ports(), field): field for field in PORT_VARIABLES}.get(int(target))


def port_mapping(entry):
    """A `ports` entry of `compose config` as v2 prints it, {"host_ip", "published", "target"}:
    Compose 1.29 prints a string instead when the host IP is given ("127.0.0.1:5101-5102:5001/tcp")."""
    if isinstance(entry, dict):
        return entry
    parts = str(entry).split("/")[0].split(":")
    host_ip = parts[0] if len(parts) == 3 else ""
    return {"host_ip": host_ip, "published": parts[-2], "target": int(parts[-1])}


def published_ports(demo, env=None):
    """[(host port, what, the Ports field that moves it)] the demo's compose file publishes."""
    wanted = []
    for name, service in active_services(demo, env).items():
        for mapping in map(port_mapping, service.get("ports") or []):
            first, _, last = str(mapping["published"]).partition("-")  # a range when scaled
            for port in range(int(first), int(last or first) + 1):
                wanted.append((port, f"{name}, published", _field_of(mapping["target"])))
    return wanted


def _inspected(demo, fmt, env=None, stopped_too=False):
    """`docker inspect --format fmt` of the demo's containers, a line each (none: [])."""
    ids = compose(demo, "ps", *(["-a"] if stopped_too else []), "-q", env=env, capture=True).stdout.split()
    if not ids:
        return []
    out = subprocess.run(["docker", "inspect", "--format", fmt, *ids], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def running_ports(demo, env=None):
    """The running demo's Ports: where compose published each service's port (moved or not)."""
    moved = {}
    for line in _inspected(demo, "{{json .NetworkSettings.Ports}}", env):
        for port, bindings in (json.loads(line) or {}).items():
            field = _field_of(port.split("/")[0])
            if bindings and field:
                moved[field] = int(bindings[0]["HostPort"])
    return dataclasses.replace(Ports(), **moved)


def container_health(demo, env=None, stopped_too=True):
    """{"<service>-<n>": health} for the demo's containers, e.g. {"user-service-1": "healthy"};
    stopped ones too ("exited") unless `stopped_too` is False: `ps` alone lists only the
    running, so one that crashed at its start would simply be missing."""
    fmt = (
        '{{index .Config.Labels "com.docker.compose.service"}}-'
        '{{index .Config.Labels "com.docker.compose.container-number"}} '
        # An exited container keeps its last health ("unhealthy"): its state says more.
        '{{if and .State.Health (eq .State.Status "running")}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}'
    )
    return dict(line.split(" ", 1) for line in _inspected(demo, fmt, env, stopped_too))


def wait_healthy(demo, timeout=180.0, env=None):
    """Wait until every service of the demo (its active profiles') has its containers healthy
    (compose 1.29 has no --wait)."""
    services = set(active_services(demo, env))
    seen = {}

    def all_healthy():
        seen.update(health=container_health(demo, env))
        statuses = seen["health"].values()
        if any(status in ("unhealthy", "exited", "dead") for status in statuses):
            raise RuntimeError(f"{demo} demo not healthy: {seen['health']}")
        running = {name.rsplit("-", 1)[0] for name in seen["health"]}
        return running >= services and all(status == "healthy" for status in statuses)

    try:
        # Healthchecks run every few seconds: polling each second is plenty.
        wait_until(all_healthy, timeout, f"the {demo} demo's containers to be healthy", interval=1)
        return seen["health"]
    except (TimedOut, RuntimeError):
        compose(demo, "logs", "--tail=40", env=env, check=False)
        raise RuntimeError(f"{demo} demo not healthy: {seen.get('health')}") from None


def reason(exc):
    """One line for a compose failure."""
    if isinstance(exc, subprocess.CalledProcessError):
        return f"`{' '.join(exc.cmd[-4:])}` exited with {exc.returncode}"
    return str(exc)


def compose_up(demo, env=None):
    # Compose reads the folder's .env by itself: the secrets, made at the first start.
    credentials.load_or_create(FOLDERS[demo] / ".env")
    # --remove-orphans: the other file's containers of the same folder (CLUSTER=1 or not) go.
    compose(demo, "up", "--build", "-d", "--remove-orphans", env=env)
    return wait_healthy(demo, env=env)


def compose_down(demo, env=None, volumes=False):
    compose(demo, "down", "--remove-orphans", *(["-v"] if volumes else []), env=env, check=False)
