"""The settings a demo reads, checked before anything starts: a typo is one line, not a service
that exits with a traceback half-way through the start. Each setting's choices live with the
code that reads it; this only asks them."""

import math
import os
import re

from communication.synchronous import USER_APIS
from discovery.locators import FLAVOURS, LOOKUPS
from saga import STYLES
from servicekit.auth import SWITCH
from services.orders import NOTIFY_MODES

from .ports import PORT_VARIABLES
from .programs.nginx import RESOLVE_MODES

# Each setting's choices, its default first (as the code that reads it has it).
CHOICES = {
    "SAGA": STYLES,
    "USER_API": USER_APIS,
    "NOTIFY": NOTIFY_MODES,
    "DISCOVERY": FLAVOURS,
    "CONSUL_LOOKUP": LOOKUPS,
    "GATEWAY_RESOLVE": RESOLVE_MODES,
    "GATEWAY_AUTH": SWITCH,
    "AUTH": SWITCH,
}


# The services' tuning (docs/failure.md, messaging.md, instances.md, saga.md): unset means the
# default of the code that reads it. Seconds may have decimals; counts are whole numbers;
# Consul's check timings are Go durations ("500ms", "2s", "1m30s").
POSITIVE_SECONDS = [
    "USER_SERVICE_CONNECT_TIMEOUT",
    "USER_SERVICE_READ_TIMEOUT",
    "BROKER_START_OVER_SECONDS",
    "SAGA_STEP_SECONDS",
]
SECONDS = [
    "USER_SERVICE_RETRY_BACKOFF",
    "BREAKER_RESET_SECONDS",
    "DRAIN_SECONDS",
    "GRACEFUL_TIMEOUT",
    "CONSUL_STALE_SECONDS",
]
POSITIVE_COUNTS = ["BREAKER_FAILURES", "MAX_DELIVERIES"]
COUNTS = ["USER_SERVICE_RETRIES"]
CONSUL_DURATIONS = ["CONSUL_CHECK_INTERVAL", "CONSUL_CHECK_TIMEOUT"]
TUNING = POSITIVE_SECONDS + SECONDS + POSITIVE_COUNTS + COUNTS + CONSUL_DURATIONS


def _seconds(value, least):
    try:
        number = float(value)
    except ValueError:
        return False
    return math.isfinite(number) and (number > 0 if least else number >= 0)


def _count(value, least):
    return value.isascii() and value.isdigit() and int(value) >= least


def _go_duration(value):
    return re.fullmatch(r"([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+", value) is not None and any(
        c in "123456789" for c in value
    )


# Each number a demo reads, and what it must be (problem() names the first that is not).
RULES = [
    (list(PORT_VARIABLES.values()), lambda v: _count(v, 1) and int(v) < 65536, "a port number, 1 to 65535"),
    (["INSTANCES"], lambda v: _count(v, 1), "a number of instances, 1 or more"),
    (POSITIVE_SECONDS, lambda v: _seconds(v, True), "a number of seconds above 0"),
    (SECONDS, lambda v: _seconds(v, False), "a number of seconds, 0 or more"),
    (POSITIVE_COUNTS, lambda v: _count(v, 1), "a whole number, 1 or more"),
    (COUNTS, lambda v: _count(v, 0), "a whole number, 0 or more"),
    (CONSUL_DURATIONS, _go_duration, "a duration above 0 such as 500ms, 2s or 1m30s"),
]


def problem(env=os.environ):
    """What is wrong with the settings in `env`, in one line, or None. Unset means the default."""
    for name, choices in CHOICES.items():
        if name in env and env[name] not in choices:
            return f"{name} must be one of {', '.join(choices)}, not {env[name]!r}"
    for names, fits, what in RULES:
        for name in names:
            if name in env and not fits(env[name]):
                return f"{name} must be {what}, not {env[name]!r}"
    return None
