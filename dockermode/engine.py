"""A Docker engine when one is needed: use the one that answers, or start dockerd and stop it after.

    python -m dockermode.engine run -- bash tools/build-images.sh

The compose tests use Engine directly. Starting dockerd needs root; without it this fails loudly.
"""

import os
import shutil
import subprocess
import sys
import tempfile

from localmode.wait import TimedOut, wait_until


def engine_answers(timeout=30):
    """True when a Docker engine answers `docker info` within `timeout` seconds (the client alone
    is not enough; an engine that hangs is none)."""
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


class Engine:
    def __init__(self):
        self.process = None
        self.log_path = None

    def ensure(self, timeout=90.0):
        """Make sure an engine answers; start dockerd if none does (remembered for stop())."""
        if engine_answers():
            return self
        if not shutil.which("dockerd"):
            raise RuntimeError("no Docker engine answers and dockerd is not installed (apt-get install docker.io)")
        if os.geteuid() != 0:
            raise RuntimeError("no Docker engine answers; starting dockerd needs root")
        self.log_path = tempfile.mktemp(prefix="dockerd-", suffix=".log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(lambda: self.process.poll() is not None or engine_answers(), timeout, "dockerd", 0.5)
            if self.process.poll() is None:
                return self
        except TimedOut:
            pass
        tail = open(self.log_path, errors="replace").read()[-3000:]
        self.stop()
        raise RuntimeError(f"dockerd did not come up within {timeout:.0f}s:\n{tail}")

    def stop(self):
        """Stop dockerd if we started it; an engine that was already running is left alone."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


def main(argv):
    if len(argv) < 3 or argv[:2] != ["run", "--"]:
        print(__doc__, file=sys.stderr)
        return 2
    engine = Engine().ensure()
    try:
        return subprocess.run(argv[2:]).returncode
    finally:
        engine.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
