"""The Python stubs of users.proto, generated, never committed: the contract is the .proto.

    python -m communication.synchronous.grpc_stubs     (make deps and the image build run it)

`load()` returns (users_pb2, users_pb2_grpc), generating them first if they are missing or
older than the .proto. They land in communication/synchronous/generated/ (git-ignored), generated
with the import path of that package, so their own imports resolve (protoc writes absolute
imports from the path it is given).
"""

import fcntl
import importlib
import subprocess
import sys
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
    OUT.mkdir(exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PACKAGE.replace('.', '/')}={HERE}",
            f"--python_out={ROOT}",
            f"--grpc_python_out={ROOT}",
            f"--pyi_out={ROOT}",
            str(PROTO),
        ],
        check=True,
    )
    (OUT / "__init__.py").write_text('"""Generated from users.proto by grpc_stubs.py: do not edit, do not commit."""\n')


def load():
    if stale():
        # Several processes start at once (user-service's gRPC server, order-service's workers):
        # one generates, the others wait and find the stubs made, none imports a half-written one.
        OUT.mkdir(exist_ok=True)
        with open(OUT / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if stale():
                generate()
    return importlib.import_module(f"{PACKAGE}.users_pb2"), importlib.import_module(f"{PACKAGE}.users_pb2_grpc")


if __name__ == "__main__":
    generate()
    print(f"generated {', '.join(sorted(p.name for p in OUT.glob('users_pb2*')))} in {OUT.relative_to(ROOT)}")
