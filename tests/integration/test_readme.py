"""The README's commands, run verbatim against each demo on the doc's ports, give the README's output."""

import socket

import pytest

from tools.demo import readme_examples, run_example
from tools.launcher import Demo, Ports


def _free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("demo_name", ["gateway", "discovery"])
def test_readme_commands_give_readme_outputs(demo_name, tmp_path):
    ports = Ports()
    busy = [p for p in (ports.gateway, ports.user, ports.order, ports.consul) if not _free(p)]
    assert not busy, f"ports {busy} are in use (a demo running? `make down`); the README's commands need them"
    examples = readme_examples(demo_name)
    assert len(examples) >= 3, "the README lost its smoke-marked console block"
    with Demo(demo_name, workdir=tmp_path, ports=ports):
        for command, expected in examples:
            assert run_example(command) == expected.strip(), command
