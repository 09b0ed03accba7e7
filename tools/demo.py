"""What the Makefile calls: start or stop a demo in compose or local mode, and the README smoke.

    python -m tools.demo up gateway|discovery     (stops the other demo first)
    python -m tools.demo down
    python -m tools.demo smoke                    (the README's curl commands, outputs compared)

MODE=docker|local forces a mode; by default compose runs when a Docker engine answers.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

from tools import launcher

ROOT = launcher.ROOT
README = ROOT / "README.md"
DEMO_DIRS = launcher.DEMOS


# --- compose mode -----------------------------------------------------------------------------


def docker_answers():
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


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


def compose_env(env=None, everything=False):
    """The environment for compose: DISCOVERY=server turns on the load balancer's profile;
    `everything` turns on every profile (so `down` removes all)."""
    env = {**os.environ, **(env or {})}
    if everything or (env.get("DISCOVERY") == "server" and "COMPOSE_PROFILES" not in env):
        env["COMPOSE_PROFILES"] = "server"
    return env


def compose(demo, *args, env=None, check=True, capture=False):
    return subprocess.run(
        [*compose_command(), *args],
        cwd=DEMO_DIRS[demo],
        env=compose_env(env, everything=args[:1] == ("down",)),
        check=check,
        text=True,
        capture_output=capture,
    )


def container_health(demo, env=None):
    """{"<service>-<n>": health} for the demo's containers, e.g. {"user-service-1": "healthy"}."""
    ids = compose(demo, "ps", "-q", env=env, capture=True).stdout.split()
    if not ids:
        return {}
    fmt = (
        '{{index .Config.Labels "com.docker.compose.service"}}-'
        '{{index .Config.Labels "com.docker.compose.container-number"}} '
        "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
    )
    out = subprocess.run(["docker", "inspect", "--format", fmt, *ids], capture_output=True, text=True, check=True)
    return dict(line.split(" ", 1) for line in out.stdout.splitlines())


def wait_healthy(demo, timeout=180.0, env=None):
    """Wait until every container of the demo reports healthy (compose 1.29 has no --wait)."""
    deadline = time.monotonic() + timeout
    health = {}
    while time.monotonic() < deadline:
        health = container_health(demo, env)
        if health and all(status == "healthy" for status in health.values()):
            return health
        if any(status in ("unhealthy", "exited", "dead") for status in health.values()):
            break
        time.sleep(1)  # healthchecks run every few seconds; poll, bounded by the deadline
    compose(demo, "logs", "--tail=40", env=env, check=False)
    raise RuntimeError(f"{demo} demo not healthy: {health}")


def compose_up(demo, env=None):
    compose(demo, "up", "--build", "-d", env=env)
    return wait_healthy(demo, env=env)


def compose_down(demo, env=None, volumes=False):
    compose(demo, "down", "--remove-orphans", *(["-v"] if volumes else []), env=env, check=False)


# --- both modes -------------------------------------------------------------------------------


def mode():
    forced = os.getenv("MODE", "").strip()
    if forced in ("docker", "local"):
        return forced
    if forced:
        raise SystemExit(f"MODE must be docker or local, not {forced!r}")
    return "docker" if docker_answers() else "local"


def down(current_mode):
    if current_mode == "docker":
        for demo in DEMO_DIRS:
            compose_down(demo)
    launcher.stop_running_demo()


def up(demo, current_mode):
    other = next(d for d in DEMO_DIRS if d != demo)
    if current_mode == "docker":
        print(f"Mode: docker (a Docker engine answers): docker compose up in {DEMO_DIRS[demo].name}/")
        compose_down(other)
        launcher.stop_running_demo()
        health = compose_up(demo)
        print("\n".join(f"  {name:<18} ({status})" for name, status in sorted(health.items())))
        return 0
    print("Mode: local (no Docker engine answers): the same services as processes, with a real nginx and Consul")
    launcher.stop_running_demo()
    netns = ["--netns"] if os.getenv("NETNS", "") not in ("", "0") else []
    return launcher.main([demo, "--detach", "--instances", os.getenv("INSTANCES", "1"), *netns])


# --- README smoke -----------------------------------------------------------------------------

SMOKE_MARK = re.compile(r"<!-- smoke: ([\w-]+) -->\s*```console\n(.*?)```", re.S)


def readme_examples(demo, readme=README):
    """[(command, expected output)] from the README's ```console blocks marked `<!-- smoke: demo -->`."""
    examples = []
    for block_demo, body in SMOKE_MARK.findall(readme.read_text()):
        if block_demo != demo:
            continue
        command, expected, in_command = None, [], False
        for line in body.splitlines():
            if line.startswith("$ "):
                if command is not None:
                    examples.append((command, "\n".join(expected)))
                command, expected, in_command = line[2:], [], line.endswith("\\")
            elif in_command:
                command += "\n" + line
                in_command = line.endswith("\\")
            else:
                expected.append(line)
        if command is not None:
            examples.append((command, "\n".join(expected)))
    return examples


def run_examples(examples, timeout=60, cwd=None, env=None):
    """Run a block's commands in one bash, one after the other, as a user types them (a variable
    set by one command is there for the next); each command's stdout, stripped."""
    separator = "=====README-EXAMPLE-DONE====="
    script = "".join(f"{command}\necho; echo {separator}\n" for command, _ in examples)
    # As in a user's shell: not inside make (under `make test`, a nested make says "Entering directory").
    env = {k: v for k, v in (env or os.environ).items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    outputs = [part.strip() for part in result.stdout.split(separator)]
    return outputs[: len(examples)]


def output_matches(actual, expected):
    """A README output line of just `...` stands for whatever the command prints (build logs)."""
    expected = expected.strip()
    return expected == "..." or actual == expected


def _ids_as_wildcards(text):
    return re.sub(r'"id": ?\d+', '"id": N', text)


def smoke(demo, exact=False):
    """Run the README's commands for `demo`; compare outputs (ids may differ on a used demo)."""
    failures = 0
    examples = readme_examples(demo)
    for (command, expected), actual in zip(examples, run_examples(examples), strict=True):
        expected = expected.strip()
        same = output_matches(actual, expected) or (
            not exact and _ids_as_wildcards(actual) == _ids_as_wildcards(expected)
        )
        print(f"{'ok  ' if same else 'FAIL'} $ {command.splitlines()[0]} -> {actual}")
        if not same:
            print(f"     expected: {expected}")
            failures += 1
    return failures


def running_demo(current_mode):
    if current_mode == "docker":
        for demo in DEMO_DIRS:
            if container_health(demo):
                return demo
        return None
    state = launcher.running_demo()
    return state["demo"] if state else None


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("up", "down", "smoke"):
        print(__doc__)
        return 2
    current_mode = mode()
    if args[0] == "up":
        if len(args) != 2 or args[1] not in DEMO_DIRS:
            raise SystemExit("usage: python -m tools.demo up gateway|discovery")
        return up(args[1], current_mode)
    if args[0] == "down":
        down(current_mode)
        return 0
    demo = running_demo(current_mode)
    if demo is None:
        print("no demo is running: start one with `make gateway-demo` or `make discovery-demo`", file=sys.stderr)
        return 1
    print(f"smoke: the README's commands against the running {demo} demo ({current_mode} mode)")
    failures = smoke(demo)
    print(json.dumps({"demo": demo, "failures": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
