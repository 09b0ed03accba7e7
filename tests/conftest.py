"""Fixtures and settings shared by every test folder."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localmode import sockets  # noqa: E402  (after the path is set)
from localmode.ports import Ports  # noqa: E402

# One block of ports for the tests, another for a second demo beside the first (fault 5 runs both
# at once): away from the doc's, so a demo you are running never collides.
TEST_PORTS = Ports.block(15000)
SECOND_TEST_PORTS = Ports.block(16000)


def ports_env(ports=TEST_PORTS):
    """The environment that moves a demo started by make or the CLI onto `ports`."""
    from localmode.ports import PORT_VARIABLES

    return {variable: str(getattr(ports, field)) for field, variable in PORT_VARIABLES.items()}


@pytest.fixture(scope="session", autouse=True)
def doc_ports_kept_from_clients():
    """The docs' tests run demos on the doc's own ports, and gRPC's 50050/50051 lie in the range
    the kernel lends to outgoing connections: a connection that had been given one once made a
    demo fail to start. As root, none is lent for the session."""
    doc = Ports()
    with sockets.kept_from_clients([*vars(doc).values(), doc.names, *(p for p, _ in doc.consul_ports())]):
        yield


def pytest_sessionfinish(session, exitstatus):
    """When the whole suite has passed (`make test`: no path, -k or -m chosen), every console
    block of the docs has been asked for by a test; a block none asked for fails the run."""
    from localmode import smoke

    config = session.config
    whole_suite = (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not config.option.keyword
        and not config.option.markexpr
        and not config.option.deselect
        and not config.option.ignore
        and not config.option.ignore_glob
        and not getattr(config.option, "lf", False)
        and not getattr(config.option, "stepwise", False)
        and not config.option.collectonly
    )
    if not whole_suite or exitstatus != pytest.ExitCode.OK:
        return
    untried = smoke.untried_blocks()
    if untried:
        names = ", ".join(f"<!-- {kind}: {name} -->" for kind, name in untried)
        session.config.get_terminal_writer().line(f"console blocks no test ran: {names}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
