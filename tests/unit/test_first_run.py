"""A lean, locked and clear first run: what each demo installs, one line when a tool is too old,
the variables `make help` names, and one lock for every Python package."""

import os
import re
import subprocess
import sys

import pytest

from localmode.ports import PORT_VARIABLES
from localmode.process import ROOT
from localmode.programs.nginx import gateway_defaults
from localmode.settings import TUNING


def run(*argv, env=None, **kwargs):
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})}, **kwargs)


@pytest.mark.parametrize(
    "demo, env, packages, builds",
    [
        ("gateway", {}, "nginx", "nats-server"),  # no Consul build for a demo that runs no Consul
        ("gateway", {"NETNS": "1"}, "nginx dnsmasq-base", "nats-server"),  # dnsmasq only for NETNS=1
        ("discovery", {}, "", "consul nats-server"),
        ("discovery", {"DISCOVERY": "server"}, "nginx", "consul nats-server consul-template"),
    ],
)
def test_each_demo_installs_only_what_it_runs(demo, env, packages, builds):
    plan = run("bash", "tools/ensure-local-deps.sh", demo, "--plan", env={"NETNS": "0", "DISCOVERY": "client", **env})
    assert plan.stdout.splitlines() == [f"packages: {packages}", f"builds: {builds}"]


def fake_program(tmp_path, name, script):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(f"#!/bin/sh\n{script}\n")
    (bin_dir / name).chmod(0o755)
    return bin_dir


def test_a_consul_of_the_pinned_version_on_path_is_used(tmp_path):
    version = re.search(r"CONSUL_VERSION:-([\d.]+)", (ROOT / "tools" / "build-consul.sh").read_text()).group(1)
    bin_dir = fake_program(tmp_path, "consul", f'echo "Consul v{version}"')
    # An empty cache and no Go: it can only answer with the one on PATH, and at once.
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    found = run("bash", "tools/build-consul.sh", env=env, timeout=30)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(bin_dir / "consul")


def test_too_old_python_is_one_clear_line(tmp_path):
    old = fake_program(tmp_path, "python3", 'echo "3.9.2"') / "python3"
    result = run("bash", "tools/require.sh", "python", str(old))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Python 3.11 or newer is needed; {old} is 3.9.2 (set PYTHON=/path/to/python3.11)"
    ]
    assert run("bash", "tools/require.sh", "python", sys.executable).returncode == 0


def test_too_old_go_is_one_clear_line(tmp_path):
    bin_dir = fake_program(tmp_path, "go", 'echo "go1.19.8"')
    result = run("bash", "tools/require.sh", "go", "1.25", "consul v1.22.7", env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Go 1.25 or newer is needed to build consul v1.22.7; this go is 1.19.8"
    ]


def test_packages_are_installed_with_their_services_left_stopped(tmp_path):
    """Debian's nginx starts itself on port 80 when installed: apt runs under a policy that says
    "do not start" (exit 101), gone again afterwards. apt-get here is a stand-in that asks the
    policy as invoke-rc.d would; the policy at a path of the test's own."""
    policy = tmp_path / "policy-rc.d"
    bin_dir = fake_program(tmp_path, "apt-get", '"$POLICY_RC_D" nginx start; echo "policy said $?"')
    fake_program(tmp_path, "systemctl", "true")  # where systemd runs: not this machine's nginx unit
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "POLICY_RC_D": str(policy)}
    result = run("bash", "tools/apt-install.sh", "nginx", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "policy said 101"
    assert not policy.exists()


def test_no_go_at_all_is_one_clear_line(tmp_path):
    """A first run on a machine without Go: not "go: command not found" and a Python traceback."""
    build = 'source tools/go-build.sh && go_build_cached demo-tool example.com/tool v1.0.0 . "demo-tool v1.0.0"'
    no_go = tmp_path / "empty"  # a PATH without go (Debian's would be in /usr/bin); bash's builtins do the rest
    no_go.mkdir()
    result = run("/bin/bash", "-c", build, env={"PATH": str(no_go), "HOME": str(tmp_path), "XDG_CACHE_HOME": ""})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "demo-tool: Go is needed to build demo-tool v1.0.0 from its module (first run only), and no go is installed "
        "(go.dev/dl, or your package manager; 1.25 or newer)"
    ]


def test_make_help_names_every_setting():
    shown = run("make", "help").stdout
    every = [*PORT_VARIABLES.values(), *gateway_defaults(), *TUNING, "MODE", "NETNS", "INSTANCES", "DISCOVERY", "AUTH"]
    for variable in every:
        assert re.search(rf"reads:.*\b{variable}\b", shown), variable


def pins(lock):
    """{package: version} of a lock file, for the pins that carry at least one sha256 hash."""
    text = lock.read_text()
    hashed = re.findall(r"^([A-Za-z0-9._-]+)==(\S+) \\\n\s+--hash=sha256:[0-9a-f]{64}", text, re.M)
    assert len(hashed) == len(re.findall(r"^[A-Za-z0-9._-]+==", text, re.M)), f"{lock.name}: a pin without hashes"
    return dict(hashed)


def test_every_python_package_is_pinned_once_with_hashes():
    lock_dir = ROOT / "requirements"
    assert sorted(p.name for p in lock_dir.glob("*.txt")) == ["dev.txt", "runtime.txt"]
    runtime, dev = pins(lock_dir / "runtime.txt"), pins(lock_dir / "dev.txt")
    assert runtime and all(dev[name] == version for name, version in runtime.items()), "dev and runtime disagree"
    # No other requirements file pins anything: the virtualenv and the images use these.
    others = [p for p in ROOT.rglob("requirements*.txt") if ".venv" not in p.parts and p.parent != lock_dir]
    assert others == []
    dockerfile = (ROOT / "servicekit" / "Dockerfile").read_text()
    assert "COPY requirements/runtime.txt" in dockerfile and "--require-hashes -r requirements.txt" in dockerfile
    assert "--require-hashes -r requirements/runtime.txt" in (ROOT / "Makefile").read_text()


@pytest.mark.parametrize(
    "setting, line",
    [
        ("SAGA=yes", "SAGA must be one of off, choreography, orchestration, not 'yes'"),
        ("AUTH=true", "AUTH must be one of off, on, not 'true'"),
        ("GATEWAY_AUTH=yes", "GATEWAY_AUTH must be one of off, on, not 'yes'"),
        ("DISCOVERY=consul", "DISCOVERY must be one of client, dns, server, not 'consul'"),
        ("GATEWAY_PORT=8o80", "GATEWAY_PORT must be a port number, 1 to 65535, not '8o80'"),
        ("USER_PORT=70000", "USER_PORT must be a port number, 1 to 65535, not '70000'"),
        ("INSTANCES=0", "INSTANCES must be a number of instances, 1 or more, not '0'"),
        ("INSTANCES=abc", "INSTANCES must be a number of instances, 1 or more, not 'abc'"),
        ("USER_SERVICE_READ_TIMEOUT=3x", "USER_SERVICE_READ_TIMEOUT must be a number of seconds above 0, not '3x'"),
        ("USER_SERVICE_CONNECT_TIMEOUT=0", "USER_SERVICE_CONNECT_TIMEOUT must be a number of seconds above 0, not '0'"),
        ("SAGA_STEP_SECONDS=nan", "SAGA_STEP_SECONDS must be a number of seconds above 0, not 'nan'"),
        ("DRAIN_SECONDS=1e999", "DRAIN_SECONDS must be a number of seconds, 0 or more, not '1e999'"),
        ("CONSUL_STALE_SECONDS=nan", "CONSUL_STALE_SECONDS must be a number of seconds, 0 or more, not 'nan'"),
        ("MAX_DELIVERIES=0", "MAX_DELIVERIES must be a whole number, 1 or more, not '0'"),
        ("USER_SERVICE_RETRIES=-1", "USER_SERVICE_RETRIES must be a whole number, 0 or more, not '-1'"),
        (
            "CONSUL_CHECK_INTERVAL=2",
            "CONSUL_CHECK_INTERVAL must be a duration above 0 such as 500ms, 2s or 1m30s, not '2'",
        ),
        (
            "CONSUL_CHECK_TIMEOUT=0s",
            "CONSUL_CHECK_TIMEOUT must be a duration above 0 such as 500ms, 2s or 1m30s, not '0s'",
        ),
    ],
)
def test_a_mistyped_setting_is_one_line_before_anything_starts(setting, line):
    name, value = setting.split("=")
    result = run(sys.executable, "-m", "localmode", "up", "gateway", env={name: value, "MODE": "local"}, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"cannot start: {line}"]
    assert result.stdout == ""


def test_every_settings_default_comes_first_in_its_choices(monkeypatch, tmp_path):
    """The banner names what is switched on by comparing with the first choice: the default,
    as the code that reads each setting has it when it is unset."""
    from communication.synchronous import user_api
    from discovery import locators
    from localmode.programs import nginx
    from localmode.settings import CHOICES
    from saga import style
    from services import orders

    for name in CHOICES:
        monkeypatch.delenv(name, raising=False)
    app = orders.create_app(find=locators.FixedLocator, test_config={"DATABASE": str(tmp_path / "o.sqlite3")})
    defaults = {
        "SAGA": style(),
        "USER_API": user_api(),
        "NOTIFY": app.config["NOTIFY"],
        "DISCOVERY": "client" if isinstance(locators.discovery_locator(), locators.ConsulLocator) else None,
        "CONSUL_LOOKUP": locators.ConsulLocator("user-service").lookup,
        "GATEWAY_RESOLVE": nginx.gateway_defaults()["GATEWAY_RESOLVE"],
        "GATEWAY_AUTH": "off",  # servicekit.auth: anything but "on" was off; now on or off only
        "AUTH": "off",
    }
    assert {name: choices[0] for name, choices in CHOICES.items()} == defaults


@pytest.mark.parametrize(
    "name, value",
    [
        ("USER_SERVICE_READ_TIMEOUT", "0.5"),
        ("DRAIN_SECONDS", "0"),
        ("USER_SERVICE_RETRIES", "0"),
        ("CONSUL_CHECK_INTERVAL", "1.5s"),
        ("CONSUL_CHECK_INTERVAL", "1m30s"),
        ("CONSUL_CHECK_TIMEOUT", "500ms"),
    ],
)
def test_a_tuning_value_the_services_take_is_taken(name, value):
    from localmode.settings import problem

    assert problem({name: value}) is None
