"""One started program: its command, log file and the check that says it answers."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import sockets
from .wait import TimedOut, wait_until

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


class StartError(RuntimeError):
    """A process did not come up; the message carries the end of its log."""


def http_ok(url, timeout=1.0):
    """(answered 2xx, body) of a GET; (False, b"") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300, response.read()
    except (urllib.error.URLError, OSError):
        return False, b""


def accepts(address, port, timeout=1.0):
    """Does something accept TCP connections at address:port (a gRPC server, say)?"""
    try:
        socket.create_connection((address, port), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def signals_deferred():
    """Ctrl-C or SIGTERM in here waits until the block is done: a child forked in it is then
    known (in self.popen) and stopped with the rest. (Blocking the signals instead would hand the
    blocked mask on to the child, which would then ignore its own SIGTERM.)"""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers run in the main thread only; nothing to defer here
        return
    pending = []
    previous = {signum: signal.signal(signum, lambda n, _f: pending.append(n)) for signum in DEFERRED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in pending[:1]:
            os.kill(os.getpid(), signum)  # now, with the usual handler in place


DEFERRED = (signal.SIGINT, signal.SIGTERM)


def answers_as(url, service):
    """Does `url` answer 2xx with {"service": <service>, ...}: our program, not just anything?"""
    ok, body = http_ok(url)
    try:
        return ok and json.loads(body).get("service") == service
    except (ValueError, AttributeError):
        return False


@dataclass
class Process:
    name: str
    argv: list
    log_path: Path
    env: dict = field(default_factory=dict)
    cwd: Path = ROOT
    ready: object = None  # a callable returning True once the process answers
    # The port it listens on: "ready" also means this process (or one below it) holds that port,
    # never a stranger's server that happens to answer there.
    port: int = None
    popen: subprocess.Popen = None
    # A process it starts in a group of its own (consul-template's nginx) leaves its pid here.
    child_pidfile: Path = None
    namespace: object = None  # a localmode.netns.Namespace when it runs at an address of its own
    on_stop: object = None  # called once it has stopped (removes its namespace)

    @property
    def address(self):
        """Where it answers: its namespace's address, or loopback."""
        return self.namespace.address if self.namespace else "127.0.0.1"

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.child_pidfile:  # a pid left by an earlier run is nobody we started
            self.child_pidfile.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log, signals_deferred():
            # A session of its own: a signal for the launcher does not reach it, we stop it ourselves.
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, timeout=START_TIMEOUT):
        def answers():
            if not self.running:
                raise StartError(f"{self.name} exited with {self.popen.returncode}\n{self.log_tail()}")
            if self.ready is not None and not self.ready():
                return False
            return self.port is None or sockets.listens(self.popen.pid, self.port)

        try:
            wait_until(answers, timeout, f"{self.name} to answer", interval=0.1)
        except TimedOut:
            raise StartError(f"{self.name} not ready after {timeout:.0f}s\n{self.log_tail()}") from None

    def signal(self, signum):
        if self.running:
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout=20.0):
        """SIGTERM to the main process, as `docker stop` does to PID 1, so it shuts down in its
        own order (gunicorn: deregister, stop accepting, drain); then SIGKILL what is left."""
        if self.popen is None:
            return None
        if self.running:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        try:  # workers the master left behind, if any
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._stop_child_group()
        if self.on_stop:
            self.on_stop()
        return self.popen.returncode

    @property
    def child_pid(self):
        """The pid in child_pidfile, or None (none yet, or no such child)."""
        try:
            return int(self.child_pidfile.read_text())
        except (AttributeError, OSError, ValueError):
            return None

    def _stop_child_group(self):
        try:
            os.killpg(self.child_pid, signal.SIGKILL)
        except (TypeError, OSError):
            pass  # no such file or process: nothing was left behind

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
