"""Where local mode's programs come from: Debian's packages, or a build from their Go module."""

import os
import shutil
import subprocess

from ..process import ROOT, StartError


def built_binary(name):
    """$<NAME>_BIN, else the cached build of tools/build-<name>.sh (it builds once, then answers fast)."""
    override = os.getenv(name.upper().replace("-", "_") + "_BIN")
    if override:
        return override
    script = ROOT / "tools" / f"build-{name}.sh"
    result = subprocess.run(["bash", str(script)], check=True, stdout=subprocess.PIPE, text=True)
    return result.stdout.strip().splitlines()[-1]


def system_binary(name, package):
    """A program Debian installs under /usr/sbin (which a non-root PATH may not list)."""
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}",) if os.path.exists(p)), None)
    if not found:
        raise StartError(f"{name} not found: install it: sudo apt-get install {package}")
    return found
