"""The reference: the code as it was when the performance work began, run beside today's.

"Twice as many orders per second as before" is only worth saying if "before" runs in the same
bench, on the same machine, at the same time. So the bench unpacks the repository at REFERENCE
(`git archive`, under .run/bench/) and starts that tree's own baseline demo with that tree's own
launcher, on ports of its own; the bench then measures it like any other path.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from localmode.process import ROOT

# Orders, sagas and gRPC in, nothing of the performance issue yet (urllib3, batched consumer, ...).
REFERENCE = "8da2a5cd1ab542910527dc2f6ea5aacf87b488c3"

# Run inside the reference tree, with its own localmode: start, say where, wait, stop.
RUNNER = """
import json, sys
from localmode.demo import LocalDemo
from localmode.ports import Ports
workdir, base = sys.argv[1], int(sys.argv[2])
ports = Ports.block(base)
demo = LocalDemo("gateway", workdir=workdir, ports=ports,
                 service_env={"GATEWAY_URL": f"http://127.0.0.1:{ports.user}"})
demo.start()
try:
    roots = [p.popen.pid for p in demo.processes.values()]
    print(json.dumps({"order_url": demo.order_url, "user_url": demo.user_url, "roots": roots}), flush=True)
    sys.stdin.read()
finally:
    demo.stop()
"""


class Unavailable(RuntimeError):
    """No git history to take the reference from (a tarball, a shallow clone)."""


class ReferenceDemo:
    """The reference tree's baseline demo, in a process of its own: start(), then order_url,
    user_url and roots (the pids whose CPU time counts); stop()."""

    def __init__(self, workdir, base):
        self.workdir = Path(workdir)
        self.base = base
        self.runner = None

    def unpack(self):
        tree = self.workdir / "tree"
        if (tree / ".reference").exists():
            return tree
        tree.mkdir(parents=True, exist_ok=True)
        try:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", REFERENCE], capture_output=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            raise Unavailable(f"the reference commit {REFERENCE} is not in this clone's history: {exc}") from None
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        (tree / ".reference").write_text(REFERENCE)
        return tree

    def start(self):
        tree = self.unpack()
        self.runner = subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(self.workdir / "demo"), str(self.base)],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.runner.stdout.readline()
        if not line:
            self.runner.wait(30)
            raise RuntimeError(f"the reference demo did not start (exit {self.runner.returncode})")
        started = json.loads(line)
        self.order_url, self.user_url, self.roots = started["order_url"], started["user_url"], started["roots"]
        return self

    def stop(self):
        if self.runner and self.runner.poll() is None:
            self.runner.stdin.close()  # the runner's demo.stop() runs, as its finally does
            try:
                self.runner.wait(60)
            except subprocess.TimeoutExpired:
                self.runner.kill()
                self.runner.wait(10)
