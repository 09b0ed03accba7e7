"""docs/cluster.md's console blocks, run as a user types them: `sudo CLUSTER=1 make discovery-demo`,
the doc's curl commands against the hosts' addresses, and `make down`."""

import subprocess

import pytest

from localmode import control, smoke
from localmode.process import ROOT

pytestmark = pytest.mark.integration


def assert_block_gives_its_output(name, timeout):
    examples = smoke.examples(name)
    assert examples, f"docs/cluster.md lost its console block marked `smoke: {name}`"
    for (command, expected), actual in zip(examples, smoke.run(examples, timeout=timeout, cwd=ROOT), strict=True):
        assert smoke.matches(actual, expected), (command, actual)


def test_the_cluster_demo_as_the_docs_show_it(monkeypatch, tmp_path):
    # The docs' cluster has the doc's names and addresses: a user's own would be taken down.
    assert control.running_demo() is None, "a local demo runs (make down first)"
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "mdclu-" not in namespaces, "a CLUSTER=1 demo runs (make down first)"
    monkeypatch.setenv("MODE", "local")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # as a user without Docker
    monkeypatch.setenv("RUN_DIR", str(tmp_path / ".run"))
    try:
        assert_block_gives_its_output("cluster-up", timeout=300)
        assert_block_gives_its_output("cluster", timeout=120)
    finally:
        subprocess.run(["make", "down"], cwd=ROOT, env=smoke.user_shell_env(), capture_output=True, timeout=120)
    assert control.running_demo() is None
    # As the page says: the namespaces, the bridge and its one firewall rule are gone too.
    assert "mdclu-" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert subprocess.run(["ip", "link", "show", "mdclu-br"], capture_output=True).returncode != 0
    rule = ["iptables", "-C", "FORWARD", "-i", "mdclu-br", "-o", "mdclu-br", "-j", "ACCEPT"]
    assert subprocess.run(rule, capture_output=True).returncode != 0
