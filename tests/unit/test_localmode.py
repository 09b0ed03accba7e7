"""Local mode's own promises, against real sockets and processes: "ready" means our process."""

import errno
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from localmode import control, sockets
from localmode.demo import LocalDemo, PortTaken, check_ports
from localmode.ports import Ports
from localmode.process import ROOT, Process, StartError, answers_as
from localmode.settings import CHOICES


class AnswersEverything(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = b'{"status": "ok", "service": "user-service"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stranger():
    """Someone else's server on a port, answering /health just as user-service would."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AnswersEverything)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_strangers_server_answering_on_our_port_is_never_our_process_ready(stranger, tmp_path):
    url = f"http://127.0.0.1:{stranger}/health"
    assert answers_as(url, "user-service")  # it answers as if it were ours...
    process = Process(
        name="user-service",
        argv=[sys.executable, "-c", "import time; time.sleep(30)"],  # ...while ours never listens
        log_path=tmp_path / "user-service.log",
        ready=lambda: answers_as(url, "user-service"),
        port=stranger,
    )
    process.start()
    try:
        with pytest.raises(StartError, match="not ready after 2s"):
            process.wait_ready(timeout=2)
    finally:
        process.stop()
    assert not process.running


def test_answering_as_another_service_is_not_ready(stranger):
    assert not answers_as(f"http://127.0.0.1:{stranger}/health", "order-service")


def test_ports_kept_from_clients_for_a_block_then_given_back():
    """As root the reservation is written and undone; for anyone else it is a no-op. Two blocks
    that overlap without nesting (two test sessions at once) leave the setting as it was."""
    port = 50999
    assert sockets.lent_to_clients(port) and not sockets.lent_to_clients(5001)
    before = sockets.RESERVED_PORTS.read_text()
    with sockets.kept_from_clients([port, 5001]):
        during = sockets.RESERVED_PORTS.read_text()
    assert sockets.RESERVED_PORTS.read_text() == before
    if os.geteuid() == 0:
        reserved = {int(p) for part in during.strip().split(",") for p in _expand(part)}
        assert port in reserved and 5001 not in reserved  # only what the kernel would lend
    else:
        assert during == before
    first, second = sockets.kept_from_clients([port]), sockets.kept_from_clients([port, port + 1])
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first ends while the second still runs
    assert (port + 1 in sockets.reserved_ports()) == (os.geteuid() == 0)
    second.__exit__(None, None, None)
    assert sockets.RESERVED_PORTS.read_text() == before


def _expand(part):
    low, _, high = part.partition("-")
    return range(int(low), int(high or low) + 1) if low else []


def test_a_record_whose_launcher_pid_was_reused_signals_no_one(tmp_path, monkeypatch):
    """After a crash or a reboot the recorded launcher pid may be another program's: `make down`
    forgets the record and leaves that program alone."""
    monkeypatch.setattr(control, "STATE_FILE", tmp_path / "local-demo.json")
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        record = {"pid": stranger.pid, "started_at": "1", "demo": "gateway", "processes": {}, "network": None}
        control.STATE_FILE.write_text(json.dumps(record))
        assert control.running_demo() is None
        assert control.stop_running_demo() is True  # the stale record is cleaned up...
        assert stranger.poll() is None  # ...and the stranger still runs
        assert not control.STATE_FILE.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_port_that_needs_root_is_said_so_and_a_taken_8080_is_not_the_advice(monkeypatch):
    """As a user who is not root, port 80 is refused (EACCES), not taken: the line says so
    (where the kernel lets anyone bind it, as in many containers, there is nothing to say). And
    when 8080 itself is the taken port, the advice is another one."""
    check = (
        "from localmode.demo import PortTaken, check_ports\n"
        "from localmode.ports import Ports\n"
        "try:\n    check_ports('gateway', Ports(), [(80, 'API gateway', 'gateway')])\n"
        "except PortTaken as exc:\n    print(exc)\n"
    )
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    result = subprocess.run([*as_nobody, sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True)
    unprivileged_from = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    needs_root = "port 80 (API gateway) needs root: sudo make gateway-demo, or move the demo: GATEWAY_PORT=8080 make "
    needs_root += "gateway-demo"
    assert result.stdout.strip() == (needs_root if unprivileged_from > 80 else ""), result.stderr
    # 8080 taken (the kernel's answer, not a real socket: a demo a user moved there may hold it).
    monkeypatch.setattr(sockets, "bind_error", lambda port, kind=None: errno.EADDRINUSE)
    with pytest.raises(PortTaken, match=r"GATEWAY_PORT=9080 make gateway-demo$"):
        check_ports("gateway", Ports(gateway=8080), [(8080, "API gateway", "gateway")])


def test_a_launcher_slow_to_stop_is_killed_with_what_it_started(tmp_path, monkeypatch, capsys):
    """`make down` waits for the launcher's cleanup a bounded time; past it, the launcher and
    every process it recorded are killed: a line, not a traceback, and nothing left."""
    monkeypatch.setattr(control, "STATE_FILE", tmp_path / "local-demo.json")
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(60)"
    launcher = subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE)
    started = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a demo's process, its own group
    try:
        launcher.stdout.readline()  # SIGTERM is ignored from now on
        record = {
            "pid": launcher.pid,
            "started_at": control._start_time(launcher.pid),
            "demo": "gateway",
            "processes": {"user-service": [started.pid, control._start_time(started.pid)]},
            "network": None,
        }
        control.STATE_FILE.write_text(json.dumps(record))
        assert control.stop_running_demo(timeout=1) is True
        assert launcher.wait(5) == -9 and started.wait(5) == -9
        assert capsys.readouterr().err == "the launcher did not finish within 1s: killing what it started\n"
    finally:
        for process in (launcher, started):
            process.kill()
            process.wait()


def test_the_banner_says_what_is_switched_on_and_where_grpc_answers(tmp_path, monkeypatch):
    """`USER_API=grpc SAGA=choreography make gateway-demo` says so, and where the gRPC ports are;
    the doc's default flow prints no more than the README shows (its own test)."""
    for name in CHOICES:
        monkeypatch.delenv(name, raising=False)
    demo = LocalDemo("gateway", workdir=tmp_path, service_env={"USER_API": "grpc", "SAGA": "choreography"})
    monkeypatch.setattr(demo, "addresses", lambda service: [("127.0.0.1", 5001)])  # as once started
    lines = demo.describe().splitlines()
    assert "  user-service gRPC     127.0.0.1:50051   (users.proto)" in lines
    assert "  API gateway gRPC      127.0.0.1:50050   (and /v1/users: REST onto gRPC)" in lines
    assert lines[-2:] == ["Settings: USER_API=grpc SAGA=choreography", "Press Ctrl-C to stop."]


def test_the_generated_secrets_are_readable_by_their_owner_only_and_never_committed(tmp_path, monkeypatch):
    """As the gateway page says: made at the first start, 0600, and git-ignored where the demos
    keep them (.run/<demo>/secrets.env, a compose demo folder's .env)."""
    from localmode import credentials

    for name in credentials.NAMES:
        monkeypatch.delenv(name, raising=False)
    made = credentials.load_or_create(tmp_path / "secrets.env")
    assert all(len(value) >= 32 for value in made.values())
    assert (tmp_path / "secrets.env").stat().st_mode & 0o777 == 0o600
    assert credentials.load_or_create(tmp_path / "secrets.env") == made  # kept, not made again
    paths = [".run/gateway/secrets.env", "api-gateway-demo/.env", "service-discovery/.env"]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT, capture_output=True, text=True)
    assert ignored.stdout.split() == paths


def test_a_demo_started_by_root_is_not_forgotten_by_a_user_s_make_down():
    """`sudo make gateway-demo`, then `make down` as the user: the launcher cannot be signalled
    (EPERM), which is not 'not running': one line says to stop it as root, and the record stays
    for `sudo make down`. Root's launcher here: pid 1; the user: nobody (or whoever runs this)."""
    run_dir = Path(tempfile.mkdtemp(prefix="run-"))  # pytest's tmp_path may be its owner's alone
    run_dir.chmod(0o777)  # the user may remove the record, as when the first run made .run/ as the user
    state = run_dir / "local-demo.json"
    record = {"pid": 1, "started_at": control._start_time(1), "demo": "gateway", "processes": {}, "network": None}
    state.write_text(json.dumps(record))
    state.chmod(0o666)
    probe = (
        "import sys\nfrom pathlib import Path\nfrom localmode import control\n"
        f"control.STATE_FILE = Path({str(state)!r})\n"
        "try:\n    control.stop_running_demo()\nexcept control.AnotherUsersDemo as exc:\n    sys.exit(str(exc))\n"
    )
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    try:
        result = subprocess.run([*as_user, sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
        kept = json.loads(state.read_text())
    finally:
        shutil.rmtree(run_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == (
        "the local gateway demo runs as another user (launcher pid 1): stop it as that user: sudo make down"
    )
    assert kept["pid"] == 1  # still recorded
