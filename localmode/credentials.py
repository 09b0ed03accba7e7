"""The demos' secrets: generated at a demo's first start, never a placeholder shared by everyone.

AUTH_SECRET signs the bearer tokens (JWT), GATEWAY_SECRET is what only the gateway sends the
services. Local mode keeps them in .run/<demo>/secrets.env, compose in the demo folder's .env
(which compose reads by itself); both are git-ignored and readable by their owner only. A value
set in the environment wins: `GATEWAY_SECRET=... make gateway-demo` uses yours.
"""

import os
import secrets

NAMES = ("AUTH_SECRET", "GATEWAY_SECRET")


def load_or_create(path):
    """{name: value} from the KEY=value file at `path`, which is created, or completed, with
    fresh random values; the environment's values win over the file's."""
    found = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip() in NAMES and value.strip():
                found[name.strip()] = value.strip()
    missing = [name for name in NAMES if name not in found]
    if missing:
        found.update({name: secrets.token_urlsafe(32) for name in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = [line for line in (path.read_text().splitlines() if path.exists() else []) if line.strip()]
        text = "\n".join([*kept, *(f"{name}={found[name]}" for name in missing)]) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
    return {name: os.environ.get(name) or found[name] for name in NAMES}
