"""The README's commands, run verbatim against each demo on the doc's ports, give the README's output."""

import socket

import pytest

from tools import launcher
from tools.demo import output_matches, readme_examples, run_examples
from tools.launcher import Demo, Ports


def _free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


# README block -> (demo, settings it is shown with)
BLOCKS = {
    "gateway": ("gateway", {}),
    "discovery": ("discovery", {}),
    "gateway-auth": ("gateway", {"GATEWAY_AUTH": "on"}),
    "discovery-auth": ("discovery", {"AUTH": "on"}),
}


@pytest.mark.parametrize("block", BLOCKS)
def test_readme_commands_give_readme_outputs(block, tmp_path):
    demo_name, settings = BLOCKS[block]
    ports = Ports()
    busy = [p for p in (ports.gateway, ports.user, ports.order, ports.consul) if not _free(p)]
    assert not busy, f"ports {busy} are in use (a demo running? `make down`); the README's commands need them"
    examples = readme_examples(block)
    assert len(examples) >= 3, f"the README lost its console block marked `smoke: {block}`"
    with Demo(demo_name, workdir=tmp_path, ports=ports, service_env=settings):
        outputs = run_examples(examples)
    for (command, expected), actual in zip(examples, outputs, strict=True):
        assert output_matches(actual, expected), (command, actual)


@pytest.mark.parametrize("demo_name", ["gateway", "discovery"])
def test_readme_three_questions_with_instances_at_their_own_ips(demo_name, tmp_path):
    """The blocks shown with `NETNS=1 INSTANCES=3 make <demo>-demo`: started through the same CLI
    (detached), and `make restart` talks to it as it does for a user."""
    examples = readme_examples(f"{demo_name}-netns")
    assert len(examples) >= 5
    ports = Ports()
    busy = [p for p in (ports.gateway, ports.user, ports.order, ports.consul, ports.names) if not _free(p)]
    assert not busy, f"ports {busy} are in use (a demo running? `make down`)"
    argv = [demo_name, "--netns", "--instances", "3", "--workdir", str(tmp_path), "--detach"]
    assert launcher.main(argv) == 0
    try:
        outputs = run_examples(examples, timeout=120)
    finally:
        assert launcher.stop_running_demo()
    for (command, expected), actual in zip(examples, outputs, strict=True):
        assert output_matches(actual, expected), (command, actual)
