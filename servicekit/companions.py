"""A process a service runs beside its gunicorn: user-service's gRPC server (USER_API=grpc).

One process tree per service instance, in local mode and in a container alike: the gunicorn
master starts its companions once it listens, restarts one that dies (after a pause that grows
to 5 s), and stops them when it stops. A companion with a `port` is registered in Consul beside
the service (discovery/registration.py), with a native gRPC health check.
"""

import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("companion")


def graceful_seconds():
    """How long a stopping service lets its calls under way finish (GRACEFUL_TIMEOUT): gunicorn's
    workers and the companions' servers alike."""
    return float(os.getenv("GRACEFUL_TIMEOUT", "15"))


@dataclass
class Companion:
    name: str
    module: str  # run as `python -m <module>`, with the service's environment
    port: int = None
    kind: str = "grpc"  # what it serves on its port: its name in the registration's meta (grpc_port)
    process: subprocess.Popen = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    def start(self):
        self.process = subprocess.Popen([sys.executable, "-m", self.module], env=os.environ.copy())
        log.info("companion started", extra={"companion": self.name, "pid": self.process.pid})
        threading.Thread(target=self._watch, name=f"watch-{self.name}", daemon=True).start()

    def _watch(self):
        delay = 0.5
        while not self._stopping.is_set():
            code = self.process.wait()
            if self._stopping.is_set():
                return
            log.error("companion exited; starting it again", extra={"companion": self.name, "code": code})
            time.sleep(delay)  # a pause before the restart, growing: never a tight loop
            delay = min(delay * 2, 5.0)
            if not self._stopping.is_set():
                self.process = subprocess.Popen([sys.executable, "-m", self.module], env=os.environ.copy())

    def begin_stop(self):
        """SIGTERM: it drains while gunicorn's workers do, not after them."""
        self._stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def stop(self):
        """SIGTERM (again), then SIGKILL if it has not drained within its grace (and a margin)."""
        timeout = graceful_seconds() + 5
        self.begin_stop()
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
