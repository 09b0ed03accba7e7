"""A local demo in the background: the launcher's record in .run/, stopping it, and asking it to
restart one instance.

`make gateway-demo` starts the launcher detached (`python -m localmode run gateway`), returns once
the demo is up, and `make down` / `make restart` find that launcher through its record.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .process import ROOT, START_TIMEOUT, StartError
from .programs.services import service_of
from .wait import TimedOut, wait_until

STATE_FILE = ROOT / ".run" / "local-demo.json"


def control_files(workdir):
    """A request to a running launcher (`restart <instance>`) and its answer."""
    return Path(workdir) / "control.request", Path(workdir) / "control.answer"


def alive(pid):
    """True while pid runs; a launcher we started ourselves (detach) is reaped, not left a zombie."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def running_demo():
    """The detached local demo recorded in .run/, if its launcher is still alive."""
    try:
        state = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None
    return state if alive(state.get("pid", 0)) else None


def record(demo):
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps({"pid": os.getpid(), "demo": demo.demo, "workdir": str(demo.workdir)}))


def forget():
    """Remove the record if it is this launcher's."""
    state = running_demo()
    if state and state["pid"] == os.getpid():
        STATE_FILE.unlink(missing_ok=True)


def stop_running_demo(timeout=60.0):
    """Stop a detached local demo (its launcher stops its processes). True if one was running."""
    state = running_demo()
    if not state:
        return False
    os.kill(state["pid"], signal.SIGTERM)
    try:
        wait_until(lambda: not alive(state["pid"]), timeout, "the launcher to finish its cleanup", 0.1)
    except TimedOut:
        raise StartError(f"launcher pid {state['pid']} did not stop within {timeout:.0f}s") from None
    print(f"stopped the local {state['demo']} demo")
    return True


def request_restart(name, timeout=90.0):
    """Ask the running local demo's launcher to restart one instance; print what it answers."""
    state = running_demo()
    if not state:
        print("no local demo running", file=sys.stderr)
        return 1
    request, answer = control_files(state["workdir"])
    answer.unlink(missing_ok=True)
    request.write_text(name)
    os.kill(state["pid"], signal.SIGUSR1)
    try:
        wait_until(answer.exists, timeout, "the launcher's answer", 0.1)
    except TimedOut:
        print(f"no answer from the launcher within {timeout:.0f}s", file=sys.stderr)
        return 1
    text = answer.read_text()
    print(text)
    return 0 if "restarted" in text else 1


def serve_restart(demo):
    """The launcher's side of request_restart()."""
    request, answer = control_files(demo.workdir)
    name = request.read_text().strip()
    request.unlink(missing_ok=True)
    if name not in demo.processes or not service_of(name):
        text = f"no instance {name!r}; instances: {', '.join(n for n in demo.processes if service_of(n))}"
    else:
        before = demo.processes[name]
        was = f"{before.address}:{before.env['PORT']}"
        after = demo.restart(name)
        text = f"{name} restarted: {was} -> {after.address}:{after.env['PORT']}"
    answer.write_text(text)


def detach(run_argv, workdir):
    """Start the launcher (`python -m localmode run ...`) in the background; return once the demo
    is up (0) or failed (1, with the launcher's log)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "launcher.log"
    ready_path = workdir / "launcher.ready"
    ready_path.unlink(missing_ok=True)
    with open(log_path, "wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "localmode", "run", *run_argv, "--ready-file", str(ready_path)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_until(lambda: ready_path.exists() or child.poll() is not None, START_TIMEOUT * 3, "the launcher", 0.1)
    except TimedOut:
        pass
    if ready_path.exists():
        print(ready_path.read_text().replace("Press Ctrl-C to stop.", "Stop it with: make down"))
        return 0
    if child.poll() is None:
        child.terminate()
    print(log_path.read_text(errors="replace"), file=sys.stderr)
    return 1


def supervise(demo, ready_file=None):
    """Run a demo in the foreground until Ctrl-C, SIGTERM or a process dies: the launcher itself.

    Records itself for `make down`, serves `make restart`, and with namespaces restarts a crashed
    instance at a new address as a scheduler would."""

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    restart_requested = []
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGUSR1, lambda *_: restart_requested.append(True))
    try:
        demo.start()
        record(demo)
        print(demo.describe(), flush=True)
        if ready_file:
            Path(ready_file).write_text(demo.describe())
        while True:
            time.sleep(0.5)  # supervise: notice a request, or a process that dies
            if restart_requested:
                restart_requested.clear()
                serve_restart(demo)
            dead = [p for p in demo.processes.values() if not p.running]
            if demo.network and dead and all(p.namespace for p in dead):
                for process in dead:  # as a scheduler would: back at a new address
                    again = demo.restart(process.name)
                    print(f"{process.name} exited; restarted at {again.address}", flush=True)
            elif dead:
                break
        dead = [p.name for p in demo.processes.values() if not p.running]
        print(f"stopping: {', '.join(dead)} exited; logs in {demo.workdir / 'logs'}", file=sys.stderr)
        return 1
    except StartError as exc:
        print(f"start failed, stopped everything: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        demo.stop()
        forget()
        print("stopped.", flush=True)
