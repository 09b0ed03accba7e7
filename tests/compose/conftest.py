"""Compose fixtures: the demos' own docker-compose.yml files on a real Docker engine.

Images cannot be pulled here, so the base-image variables point at local stand-ins
(tools/build-images.sh); nothing else differs from what users run. No engine, no test: it fails.
"""

import subprocess

import pytest

from dockermode import compose as demos
from dockermode.engine import Engine
from localmode.demo import FOLDERS
from localmode.process import ROOT

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def docker_engine():
    """The engine (started if none answers); a compose demo of the user's already running on it
    stops the tests: they use its project names and ports, and would take it down."""
    engine = Engine().ensure()
    try:
        running = [demo for demo in FOLDERS if demos.container_health(demo, stopped_too=False)]
        assert not running, f"a compose demo runs ({', '.join(running)}): `make down` first"
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def image_env(docker_engine):
    """PYTHON_IMAGE, NGINX_IMAGE, CONSUL_IMAGE of the stand-ins (cached builds)."""
    out = subprocess.run(["bash", "tools/build-images.sh"], cwd=ROOT, check=True, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def project_leftovers(demo, env):
    """Containers, networks and volumes still labelled with the demo's compose project."""
    project = FOLDERS[demo].name
    label = f"label=com.docker.compose.project={project}"
    found = {}
    for kind, cmd in {
        "containers": ["docker", "ps", "-aq", "--filter", label],
        "networks": ["docker", "network", "ls", "-q", "--filter", label],
        "volumes": ["docker", "volume", "ls", "-q", "--filter", label],
    }.items():
        found[kind] = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return found


@pytest.fixture
def compose_up(image_env):
    """compose_up(demo) brings a demo up healthy; everything is downed with -v afterwards."""
    started = []

    def up(demo, **extra_env):
        env = {**image_env, **extra_env}
        demos.compose_down(demo, env=env, volumes=True)
        started.append((demo, env))
        return demos.compose_up(demo, env=env)

    yield up
    for demo, env in started:
        demos.compose_down(demo, env=env, volumes=True)
        assert project_leftovers(demo, env) == {"containers": [], "networks": [], "volumes": []}
