"""Fixtures and settings shared by every test folder."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localmode.ports import Ports  # noqa: E402  (after the path is set)

# The one set of ports the tests use: away from the doc's, so a demo you are running never collides.
# One block of ports for the tests, another for a second demo beside the first (fault 5 runs both
# at once): away from the doc's, so a demo you are running never collides.
TEST_PORTS = Ports.block(15000)
SECOND_TEST_PORTS = Ports.block(16000)


def ports_env(ports=TEST_PORTS):
    """The environment that moves a demo started by make or the CLI onto `ports`."""
    from localmode.ports import PORT_VARIABLES

    return {variable: str(getattr(ports, field)) for field, variable in PORT_VARIABLES.items()}
