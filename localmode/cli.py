"""What the Makefile calls: start or stop a demo in compose or local mode, the README smoke.

    python -m localmode up gateway|discovery    start it (stopping the other demo first), return once up
    python -m localmode down                     stop whichever demo runs
    python -m localmode smoke                    the README's curl commands against the running demo
    python -m localmode restart <instance>       restart one instance of the local demo
    python -m localmode events                   a new subscriber reads the order events' history
    python -m localmode run gateway|discovery    the launcher itself, in the foreground (Ctrl-C stops)

MODE=docker|local forces a mode; by default compose runs when a Docker engine answers.
NETNS=1 and INSTANCES=N (local mode) give user-service N instances, each at its own address.
CLUSTER=1 (discovery, local mode, root): Consul and NATS clusters, hosts as namespaces (cluster.py).
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from dockermode import compose
from dockermode.engine import engine_answers

from . import control, netns, settings, smoke
from .demo import FOLDERS, LocalDemo, PortTaken, check_ports
from .ports import Ports
from .process import ROOT

# What local mode runs for real, besides the services.
REAL = {"gateway": "nginx and NATS", "discovery": "Consul agent and NATS"}


def mode():
    forced = os.getenv("MODE", "").strip()
    if forced in ("docker", "local"):
        return forced
    if forced:
        raise SystemExit(f"MODE must be docker or local, not {forced!r}")
    return "docker" if engine_answers() else "local"


def up(args, current_mode):
    other = next(d for d in FOLDERS if d != args.demo)
    if args.cluster and args.demo != "discovery":
        print("cannot start: CLUSTER=1 is for the discovery demo: CLUSTER=1 make discovery-demo", file=sys.stderr)
        return 1
    if args.cluster and os.getenv("DISCOVERY") == "server":
        print("cannot start: CLUSTER=1 runs DISCOVERY=client or dns (no load balancer in the cluster)", file=sys.stderr)
        return 1
    if current_mode == "docker":
        cluster = {"CLUSTER": "1"} if args.cluster else {}  # docker-compose.cluster.yml (compose.compose_env)
        where = f"{FOLDERS[args.demo].name}/{compose.CLUSTER_FILE if cluster else ''}"
        print(f"Mode: docker (a Docker engine answers): docker compose up in {where}")
        compose.compose_down(other)
        control.stop_running_demo()
        try:
            if not compose.container_health(args.demo, env=cluster, stopped_too=False):  # (up: its own ports)
                published = compose.published_ports(args.demo, env=cluster)
                check_ports(args.demo, Ports.from_env(), published, as_we_are=False)
        except PortTaken as exc:
            print(f"cannot start: {exc}", file=sys.stderr)
            return 1
        try:
            health = compose.compose_up(args.demo, env=cluster)
        except (subprocess.CalledProcessError, RuntimeError) as exc:
            print(f"compose failed: {compose.reason(exc)} (compose's own output is above)", file=sys.stderr)
            return 1
        print("\n".join(f"  {name:<25} ({status})" for name, status in sorted(health.items())))
        return 0
    forced = os.getenv("MODE", "").strip() == "local"
    why = "MODE=local" if forced and engine_answers(timeout=3) else "no Docker engine answers"
    print(f"Mode: local ({why}): the same services as processes, with a real {REAL[args.demo]}")
    if args.cluster and not netns.available():
        print("cannot start: CLUSTER=1 makes network namespaces, as root: sudo CLUSTER=1 make ...", file=sys.stderr)
        return 1
    if args.netns and not netns.available():
        print("cannot start: NETNS=1 needs root (it makes network namespaces): sudo NETNS=1 make ...", file=sys.stderr)
        return 1
    # What this demo runs and this machine lacks: apt packages, Go builds (first run only).
    installed = subprocess.run(["bash", str(ROOT / "tools" / "ensure-local-deps.sh"), args.demo])
    if installed.returncode:
        return installed.returncode
    control.stop_running_demo()
    run_argv = [args.demo, "--instances", str(args.instances), "--workdir", workdir(args)]
    run_argv += ["--netns"] if args.netns else []
    return control.detach([*run_argv, *(["--cluster"] if args.cluster else [])], Path(workdir(args)))


def down(current_mode):
    if current_mode == "docker":
        for demo in FOLDERS:
            compose.compose_down(demo)
    control.stop_running_demo()
    return 0


def running(current_mode):
    """The demo that runs now, in this mode, or None."""
    if current_mode == "docker":
        return next((demo for demo in FOLDERS if compose.container_health(demo, stopped_too=False)), None)
    state = control.running_demo()
    return state["demo"] if state else None


def demo_ports(current_mode, demo):
    """The running demo's ports, moved or not: local mode's record, or what compose publishes
    (in the containers every service listens on the doc's port)."""
    if current_mode == "docker":
        return compose.running_ports(demo)
    return Ports(**control.running_demo().get("ports", {}))


def run_smoke(current_mode):
    demo = running(current_mode)
    if demo is None:
        print("no demo is running: start one with `make gateway-demo` or `make discovery-demo`", file=sys.stderr)
        return 1
    print(f"smoke: the README's commands against the running {demo} demo ({current_mode} mode)")
    failures = smoke.smoke(demo, ports=demo_ports(current_mode, demo))
    print(json.dumps({"demo": demo, "failures": failures}))
    return 1 if failures else 0


def workdir(args):
    """--workdir, else $RUN_DIR/<demo> (RUN_DIR defaults to the checkout's .run)."""
    return args.workdir or str(Path(os.getenv("RUN_DIR", ROOT / ".run")) / args.demo)


def events(current_mode):
    """The replay subscriber against the running demo's broker: in compose from inside the
    demo's network (the broker is not published), in local mode on its port."""
    demo = running(current_mode)
    if demo is None:
        print("no demo is running: start one with `make gateway-demo` or `make discovery-demo`", file=sys.stderr)
        return 1
    replay = ["python", "-m", "communication.asynchronous.replay"]
    if current_mode == "docker":
        exec_in = ["exec", "-T", "notification-service", *replay, "--server", "nats://nats:4222"]
        return compose.compose(demo, *exec_in, check=False).returncode
    server = control.running_demo()["nats_url"]
    return subprocess.run([sys.executable, *replay[1:], "--server", server], cwd=ROOT).returncode


def run(args):
    """The launcher in the foreground: what `up` starts in the background in local mode."""
    if args.cluster:
        from .cluster import ClusterDemo

        demo = ClusterDemo(workdir=workdir(args), ports=Ports.from_env(), quiet=False)
        return control.supervise(demo, args.ready_file)
    network = None
    if args.netns:
        from .netns import Network

        network = Network()
    demo = LocalDemo(
        args.demo,
        workdir=workdir(args),
        ports=Ports.from_env(),
        quiet=False,
        instances={"user-service": args.instances},
        network=network,
    )
    return control.supervise(demo, args.ready_file)


def parser():
    p = argparse.ArgumentParser(prog="python -m localmode", description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="command", required=True)
    for name, what in (("up", "start a demo and return once it is up"), ("run", "the launcher, in the foreground")):
        command = commands.add_parser(name, help=what)
        command.add_argument("demo", choices=sorted(FOLDERS))
        command.add_argument(
            "--instances",
            default=os.getenv("INSTANCES", "1"),  # checked with the other settings, then a number
            help="user-service instances (ports 5001, 5101, ... or one IP each with --netns)",
        )
        command.add_argument(
            "--netns",
            action="store_true",
            default=os.getenv("NETNS", "") not in ("", "0"),
            help="each user-service instance in a network namespace at its own IP (10.213.0.0/24; root)",
        )
        command.add_argument(
            "--cluster",
            action="store_true",
            default=os.getenv("CLUSTER", "") not in ("", "0"),
            help="discovery: 3 Consul servers, an agent per app host, 3 NATS servers, in namespaces (root)",
        )
        command.add_argument("--workdir", help="data, logs, secrets and rendered configs (default: $RUN_DIR/<demo>)")
        if name == "run":
            command.add_argument("--ready-file", help=argparse.SUPPRESS)
    commands.add_parser("down", help="stop whichever demo runs")
    commands.add_parser("smoke", help="the README's commands against the running demo")
    commands.add_parser("events", help="a new subscriber reads the order events' history")
    restart = commands.add_parser("restart", help="restart one instance of the local demo")
    restart.add_argument("instance", nargs="?", default="user-service")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command in ("up", "run"):
        if wrong := settings.problem({**os.environ, "INSTANCES": args.instances}):
            print(f"cannot start: {wrong}", file=sys.stderr)
            return 1
        args.instances = int(args.instances)
    if args.command == "run":
        return run(args)
    try:
        if args.command == "restart":
            return control.request_restart(args.instance)
        current_mode = mode()
        if args.command == "up":
            return up(args, current_mode)
        if args.command == "down":
            return down(current_mode)
    except control.AnotherUsersDemo as exc:
        print(f"cannot {dict(up='start', down='stop').get(args.command, args.command)}: {exc}", file=sys.stderr)
        return 1
    if args.command == "events":
        return events(current_mode)
    return run_smoke(current_mode)
