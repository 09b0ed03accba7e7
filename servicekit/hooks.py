"""What a service adds to the shared chassis, in one typed place instead of string keys.

A service's app factory (or a demo's app.py) fills these in; web.py reads the health parts and
gunicorn_conf.py the process parts.
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class ServiceHooks:
    # Announce the instance (discovery.registration.ConsulRegistration: one entry, a companion's
    # port in its meta); the gunicorn master registers once it listens, deregisters first on SIGTERM.
    registrations: list = field(default_factory=list)
    # Processes beside the service (servicekit/companions.py), run by the gunicorn master.
    companions: list = field(default_factory=list)
    # Run in each gunicorn worker after the fork (threads must start there, not in the master).
    on_worker_start: list[Callable[[], None]] = field(default_factory=list)
    # Extra fields for GET /health, e.g. {"user_service_circuit": "closed"}.
    health_details: list[Callable[[], dict]] = field(default_factory=list)
    # GET /health/ready: name -> check returning None when fine, else what is wrong.
    dependency_checks: dict[str, Callable[[], str | None]] = field(default_factory=dict)


def hooks(app) -> ServiceHooks:
    """The app's hooks, made on first use."""
    return app.extensions.setdefault("servicekit.hooks", ServiceHooks())
