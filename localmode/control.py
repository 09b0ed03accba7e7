"""A local demo in the background: the launcher's record in .run/, stopping it, and asking it to
restart one instance.

`make gateway-demo` starts the launcher detached (`python -m localmode run gateway`) and returns
once the demo is up; `make down` / `make restart` find that launcher through its record. The
launcher records itself before it starts anything and updates the record with every process it
starts, so a demo that is still starting can be stopped, and even the processes of a launcher
that was killed are found. One launcher per checkout at a time: it holds a lock while it runs.
"""

import contextlib
import dataclasses
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .demo import PortTaken
from .netns import NetnsError
from .process import ROOT, START_TIMEOUT, StartError
from .programs.services import service_of
from .wait import TimedOut, wait_until

STATE_FILE = ROOT / ".run" / "local-demo.json"
LOCK_FILE = ROOT / ".run" / "launcher.lock"


class AnotherLauncher(StartError):
    """A launcher already runs in this checkout."""


class AnotherUsersDemo(StartError):
    """The running demo's launcher belongs to another user (root, after `sudo make ...`)."""

    @classmethod
    def of(cls, state, advice):
        return cls(f"the local {state['demo']} demo runs as another user (launcher pid {state['pid']}): {advice}")


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
    except PermissionError:
        return True  # it runs, as another user: not ours to signal, nor to forget
    except OSError:
        return False


def recorded():
    """The launcher's record, alive or not, or None."""
    try:
        return json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None


def launcher_alive(state):
    """Is the recorded launcher still running? Its pid alone is not enough: after a crash or a
    reboot the pid may be another program's, which `make down` must not signal."""
    pid = state.get("pid", 0)
    return alive(pid) and _start_time(pid) == state.get("started_at")


def running_demo():
    """The local demo recorded in .run/ (up or still starting), if its launcher is still alive."""
    state = recorded()
    return state if state and launcher_alive(state) else None


def hold_lock():
    """Take this checkout's launcher lock for as long as this process lives (the kernel drops it
    when the process ends, however it ends)."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    handle = open(LOCK_FILE, "a")  # noqa: SIM115  (kept open: the lock lives with it)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        other = running_demo()
        who = f" (pid {other['pid']}, the {other['demo']} demo)" if other else ""
        raise AnotherLauncher(f"another local demo launcher runs in this checkout{who}: `make down` first") from None
    return handle


def _start_time(pid):
    """When a process started (clock ticks since boot): a pid reused later has another."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def record(demo, state):
    """Write this launcher's record: its pid, the demo, "starting" or "up", and the processes
    started so far (pid and start time each, so a reused pid is never mistaken for one)."""
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    started = {name: p.popen.pid for name, p in demo.processes.items() if p.popen is not None}
    # A child in a group of its own (consul-template's nginx) is found by its own pid.
    started |= {f"{name} child": pid for name, p in demo.processes.items() if (pid := p.child_pid)}
    entry = {
        "pid": os.getpid(),
        "started_at": _start_time(os.getpid()),
        "demo": demo.demo,
        "workdir": str(demo.workdir),
        "state": state,
        "processes": {name: [pid, _start_time(pid)] for name, pid in started.items()},
        "network": demo.network.name if demo.network else None,
        "nats_url": demo.nats_url,
        "ports": dataclasses.asdict(demo.ports),  # where `make smoke` finds it (GATEWAY_PORT=...)
    }
    temporary = STATE_FILE.with_suffix(".tmp")
    temporary.write_text(json.dumps(entry))
    temporary.replace(STATE_FILE)


def forget():
    """Remove the record if it is this launcher's."""
    state = recorded()
    if state and state.get("pid") == os.getpid():
        STATE_FILE.unlink(missing_ok=True)


def stop_running_demo(timeout=60.0):
    """Stop the local demo, up or still starting (its launcher stops its processes); if its
    launcher was killed, stop the processes it recorded. True if there was one."""
    state = recorded()
    if not state:
        return False
    if launcher_alive(state):
        try:
            os.kill(state["pid"], signal.SIGTERM)
        except PermissionError:
            raise AnotherUsersDemo.of(state, "stop it as that user: sudo make down") from None
        try:
            wait_until(lambda: not launcher_alive(state), timeout, "the launcher to finish its cleanup", 0.1)
        except TimedOut:  # a process that takes its time to stop: what the launcher recorded goes at once
            print(f"the launcher did not finish within {timeout:.0f}s: killing what it started", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):  # (it may have just finished)
                os.kill(state["pid"], signal.SIGKILL)
            _stop_leftovers(recorded() or state)
    else:
        _stop_leftovers(state)
    STATE_FILE.unlink(missing_ok=True)
    print(f"stopped the local {state['demo']} demo")
    return True


def _stop_leftovers(state):
    """What a killed launcher left running: its processes' groups, then its network."""
    for pid, started_at in state.get("processes", {}).values():
        if started_at and _start_time(pid) == started_at:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
    if state.get("network"):
        from .netns import Network

        Network(state["network"]).destroy()


def request_restart(name, timeout=90.0):
    """Ask the running local demo's launcher to restart one instance; print what it answers."""
    state = running_demo()
    if not state:
        print("no local demo running", file=sys.stderr)
        return 1
    request, answer = control_files(state["workdir"])
    try:
        answer.unlink(missing_ok=True)
        request.write_text(name)
        os.kill(state["pid"], signal.SIGUSR1)
    except PermissionError:
        raise AnotherUsersDemo.of(state, f"restart it as that user: sudo make restart INSTANCE={name}") from None
    try:
        wait_until(lambda: answer.exists() or not launcher_alive(state), timeout, "the launcher's answer", 0.1)
    except TimedOut:
        print(f"no answer from the launcher within {timeout:.0f}s", file=sys.stderr)
        return 1
    if not answer.exists():
        print(f"the launcher stopped (its log: {Path(state['workdir']) / 'launcher.log'})", file=sys.stderr)
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
    is up (0) or failed (1, with the launcher's log). Ctrl-C (or SIGTERM) while it starts stops
    what was starting."""
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
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        wait_until(lambda: ready_path.exists() or child.poll() is not None, START_TIMEOUT * 3, "the launcher", 0.1)
    except TimedOut:
        pass
    except KeyboardInterrupt:
        print("interrupted: stopping what was starting", file=sys.stderr, flush=True)
        _stop_child(child)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if ready_path.exists():
        # Started with sudo: only root can stop it (see AnotherUsersDemo).
        stop = "sudo make down" if os.environ.get("SUDO_USER") else "make down"
        print(ready_path.read_text().replace("Press Ctrl-C to stop.", f"Stop it with: {stop}"))
        return 0
    _stop_child(child)
    print(_failure(log_path), file=sys.stderr)
    return 1


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def _stop_child(child, timeout=60.0):
    """SIGTERM to the background launcher; it stops its processes before it exits."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)
            state = recorded()
            if state and state.get("pid") == child.pid:
                _stop_leftovers(state)  # killed mid-cleanup: what it had not stopped yet
                STATE_FILE.unlink(missing_ok=True)


def _failure(log_path):
    """What went wrong, from the launcher's log: its one-line reason when it gave one (a port
    taken, no root for namespaces), else the whole log (a process that failed, with its log)."""
    text = log_path.read_text(errors="replace")
    reasons = [line for line in text.splitlines() if line.startswith("cannot start:")]
    return reasons[-1] if reasons else text


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
        lock = hold_lock()  # noqa: F841  (held until this process ends)
    except AnotherLauncher as exc:
        print(f"cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    state = {"now": "starting"}
    try:
        record(demo, state["now"])
        demo.on_started = lambda _process: record(demo, state["now"])
        demo.start()
        state["now"] = "up"
        record(demo, state["now"])
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
    except (PortTaken, NetnsError) as exc:
        print(f"cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    except StartError as exc:
        print(f"start failed, stopped everything: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        demo.stop()
        forget()
        print("stopped.", flush=True)
