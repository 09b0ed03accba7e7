"""The docs' console blocks, run as a user types them and compared with what the docs show.

A block marked `<!-- smoke: NAME -->` (in README.md or a page under docs/) is a list of `$ command`
lines, each followed by its expected output. `make smoke` runs the blocks of the running demo; the
tests run every block against the demo it is shown with.
"""

import functools
import os
import re
import subprocess

from .process import ROOT

README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
# Every file with console blocks: the docs, and the two demo folders' own READMEs.
DOC_FILES = [*DOCS, ROOT / "api-gateway-demo" / "README.md", ROOT / "service-discovery" / "README.md"]
# `smoke`: run by a test; `docker-output`: compared by a test; `run-by`: the script named runs it.
MARKED_BLOCK = re.compile(r"<!-- (smoke|docker-output|run-by): ([\w./-]+) -->\n```console\n(.*?)```", re.S)

# The (kind, name) of every block a test has asked for in this process: at the end of the whole
# suite, tests/conftest.py fails the run if a block was never asked for (untried_blocks).
ASKED = set()


def blocks(kind, name, files=None):
    """The bodies of the ```console blocks marked `<!-- kind: name -->`."""
    ASKED.add((kind, name))
    marked = [block for path in files or DOCS for block in MARKED_BLOCK.findall(path.read_text())]
    return [body for k, n, body in marked if (k, n) == (kind, name)]


def examples(name, files=None):
    """[(command, expected output)] of the ```console block(s) marked `<!-- smoke: name -->`."""
    return [example for body in blocks("smoke", name, files) for example in _parse(body)]


def untried_blocks():
    """The blocks a test should run or compare (not `run-by`) that none has asked for."""
    marked = {(k, n) for path in DOC_FILES for k, n, _ in MARKED_BLOCK.findall(path.read_text()) if k != "run-by"}
    return sorted(marked - ASKED)


def _parse(body):
    parsed, command, expected, in_command = [], None, [], False
    for line in body.splitlines():
        if line.startswith("$ "):
            if command is not None:
                parsed.append((command, "\n".join(expected)))
            command, expected, in_command = line[2:], [], line.endswith("\\")
        elif in_command:
            command += "\n" + line
            in_command = line.endswith("\\")
        else:
            expected.append(line)
    if command is not None:
        parsed.append((command, "\n".join(expected)))
    return parsed


def user_shell_env(env=None):
    """The environment of a user's shell: not inside make (under `make test`, a nested make would
    say "Entering directory")."""
    return {
        k: v
        for k, v in (env or os.environ).items()
        # SUDO_USER: under `sudo make test`, a block's plain `make` is no sudo (a `sudo` sets it again).
        if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "SUDO_USER")
    }


# As root on a machine without sudo (a CI container), `sudo VAR=value command` is `env VAR=value command`,
# with the SUDO_USER sudo sets.
SUDO_AS_ROOT = 'if [ "$(id -u)" = 0 ] && ! command -v sudo >/dev/null; then sudo() { env SUDO_USER=root "$@"; }; fi\n'


def run(examples, timeout=60, cwd=None, env=None):
    """Run a block's commands in one bash, one after the other, as a user types them (a variable
    set by one command is there for the next); each command's stdout, stripped."""
    separator = "=====README-EXAMPLE-DONE====="
    script = SUDO_AS_ROOT + "".join(f"{command}\necho; echo {separator}\n" for command, _ in examples)
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=user_shell_env(env)
    )
    outputs = [part.strip() for part in result.stdout.split(separator)]
    return outputs[: len(examples)]


def matches(actual, expected):
    """Does a command's output match what the docs show? In the docs' output, a line of just
    `...` stands for any number of lines (build logs), and `...` within a line for any text
    (a path, a time)."""
    shown, got = expected.strip().splitlines(), actual.strip().splitlines()

    def same_line(line, pattern):
        return re.fullmatch(".*?".join(map(re.escape, pattern.split("..."))), line) is not None

    @functools.cache
    def match_from(i, j):
        if i == len(shown):
            return j == len(got)
        if shown[i].strip() == "...":
            return match_from(i + 1, j) or (j < len(got) and match_from(i, j + 1))
        return j < len(got) and same_line(got[j], shown[i]) and match_from(i + 1, j + 1)

    return match_from(0, 0)


def _ids_as_wildcards(text):
    return re.sub(r'"id": ?\d+', '"id": N', text)


def on_ports(block, ports):
    """The block's commands sent to a demo whose ports were moved (GATEWAY_PORT=8080 ...): the
    docs' localhost URLs name the default ports, `ports` (a localmode.ports.Ports) the demo's."""
    from .ports import Ports

    moves = []
    for field in ("gateway", "user", "order", "notification", "consul", "nats_monitor"):
        default, actual = getattr(Ports(), field), getattr(ports, field)
        if actual != default:
            # http://localhost/users is port 80; http://localhost:5001 names its port.
            shown = r"localhost(?![:\w])" if default == 80 else rf"localhost:{default}(?!\d)"
            moves.append((re.compile(shown), f"localhost:{actual}"))
    moved = []
    for command, expected in block:
        for shown, actual in moves:
            command = shown.sub(actual, command)
        moved.append((command, expected))
    return moved


def smoke(name, exact=False, ports=None):
    """Run the block `name` against the running demo (on `ports`, if they were moved); print and
    count mismatches (ids may be higher on a demo already used, unless `exact`)."""
    failures = 0
    block = on_ports(examples(name), ports) if ports else examples(name)
    for (command, expected), actual in zip(block, run(block), strict=True):
        expected = expected.strip()
        same = matches(actual, expected) or (not exact and _ids_as_wildcards(actual) == _ids_as_wildcards(expected))
        print(f"{'ok  ' if same else 'FAIL'} $ {command.splitlines()[0]} -> {actual}")
        if not same:
            print(f"     expected: {expected}")
            failures += 1
    return failures
