"""The Python stubs of users.proto, generated, never committed: the contract is the .proto.

    python -m communication.synchronous.grpc_stubs     (make deps and the image build run it)

`load()` returns (users_pb2, users_pb2_grpc), generating them first if they are missing or
older than the .proto. They land in communication/synchronous/generated/ (git-ignored), generated
with the import path of that package, so their own imports resolve (protoc writes absolute
imports from the path it is given).
"""

import fcntl
import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = HERE / "users.proto"
PACKAGE = "communication.synchronous.generated"
OUT = HERE / "generated"
ROOT = HERE.parent.parent


def stale():
    made = OUT / "users_pb2_grpc.py"
    return not made.exists() or made.stat().st_mtime < PROTO.stat().st_mtime


def generate():
    """protoc into a folder of its own, then each file moved into place whole (users_pb2_grpc.py,
    which stale() looks at, last): a process that finds them fresh never reads one half-written."""
    OUT.mkdir(exist_ok=True)
    (OUT / "__init__.py").write_text('"""Generated from users.proto by grpc_stubs.py: do not edit, do not commit."""\n')
    with tempfile.TemporaryDirectory(dir=OUT) as scratch:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{PACKAGE.replace('.', '/')}={HERE}",
                f"--python_out={scratch}",
                f"--grpc_python_out={scratch}",
                f"--pyi_out={scratch}",
                str(PROTO),
            ],
            check=True,
        )
        made = Path(scratch, *PACKAGE.split("."))
        for name in ("users_pb2.pyi", "users_pb2.py", "users_pb2_grpc.py"):
            os.replace(made / name, OUT / name)


def load():
    if stale():
        # Several processes start at once (user-service's gRPC server, order-service's workers):
        # one generates, the others wait and find the stubs made, none imports a half-written one.
        OUT.mkdir(exist_ok=True)
        lock = os.open(OUT, os.O_RDONLY)  # the folder itself: no lock file another user might own
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if stale():
                generate()
        finally:
            os.close(lock)
    return importlib.import_module(f"{PACKAGE}.users_pb2"), importlib.import_module(f"{PACKAGE}.users_pb2_grpc")


if __name__ == "__main__":
    generate()
    print(f"generated {', '.join(sorted(p.name for p in OUT.glob('users_pb2*')))} in {OUT.relative_to(ROOT)}")
