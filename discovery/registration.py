"""Self-registration with the local Consul agent (discovery demo): register on start,
deregister on shutdown, so the registry only lists instances that can answer."""

import logging
import os
import socket
import threading
import time
from urllib.parse import urlsplit

import consul

from servicekit.hooks import hooks

log = logging.getLogger("registry")


def consul_address():
    """(host, port) of the agent named by CONSUL_HTTP_ADDR, as the consul client reads it."""
    raw = os.getenv("CONSUL_HTTP_ADDR", "127.0.0.1:8500")
    parts = urlsplit(raw if "//" in raw else f"//{raw}")
    return parts.hostname, parts.port or 8500


def advertise_address():
    """The address other services should call us on.

    SERVICE_ADDRESS wins; otherwise the address of our interface that faces the Consul agent
    (a container's own IP in compose, 127.0.0.1 next to a local agent). Connecting a UDP
    socket sends no packet; it only picks the route.
    """
    if os.getenv("SERVICE_ADDRESS"):
        return os.environ["SERVICE_ADDRESS"]
    host, port = consul_address()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((socket.gethostbyname(host), port))
        return probe.getsockname()[0]


class ConsulRegistration:
    """One service instance in Consul's catalog, with an HTTP check on /health; and for each of
    its named ports (`ports`, e.g. {"grpc_port": 50051}, user-service's gRPC API) the port in the
    instance's meta and Consul's native gRPC check against the standard health service there."""

    def __init__(self, name, port, address=None, check_interval=None, check_timeout=None, client=None, ports=None):
        self.name = name
        self.port = int(port)
        self.ports = dict(ports or {})
        self.address = address or advertise_address()
        # Unique per instance and stable across its restarts: a restart replaces, not duplicates.
        self.service_id = f"{name}-{self.address}-{self.port}"
        self.check_interval = check_interval or os.getenv("CONSUL_CHECK_INTERVAL", "2s")
        self.check_timeout = check_timeout or os.getenv("CONSUL_CHECK_TIMEOUT", "1s")
        self.consul = client or consul.Consul(connections_timeout=5)
        self.registered = False
        # Held while re-registering: a deregistration (SIGTERM) waits for it, then removes us for
        # good, and a re-registration never puts back an instance that has left.
        self._lock = threading.Lock()

    def register(self):
        # Consul's floor is one minute: an instance that died without deregistering goes then.
        timing = {"interval": self.check_interval, "timeout": self.check_timeout, "deregister": "1m"}
        check = consul.Check.http(f"http://{self.address}:{self.port}/health", **timing)
        grpc_checks = [
            consul.Check.grpc(f"{self.address}:{port}", use_tls=False, **timing) for port in self.ports.values()
        ]
        self.consul.agent.service.register(
            self.name,
            service_id=self.service_id,
            address=self.address,
            port=self.port,
            check=check,
            extra_checks=grpc_checks or None,
            meta={name: str(port) for name, port in self.ports.items()} or None,
        )
        self.registered = True
        log.info("registered with consul", extra={"service_id": self.service_id})

    def keep_registered(self, every=None):
        """Re-register if the agent forgot us (a dev-mode agent restarts empty). Runs in a thread."""
        every = float(every or os.getenv("CONSUL_REREGISTER_SECONDS", "5"))

        def loop():
            while self.registered:
                time.sleep(every)
                try:
                    # This instance alone: the list of all the agent's services grows with the
                    # catalog, and every instance would fetch and parse it every few seconds.
                    if self.registered and self.consul.agent.service_definition(self.service_id) is None:
                        with self._lock:
                            if self.registered:
                                self.register()
                                log.info("re-registered with consul", extra={"service_id": self.service_id})
                except Exception as exc:  # agent down: try again next round
                    log.warning("consul agent unreachable", extra={"error": type(exc).__name__})

        threading.Thread(target=loop, name="consul-reregister", daemon=True).start()

    def deregister(self):
        with self._lock:
            if not self.registered:
                return
            self.registered = False  # first, so the re-registration loop stops before we ask
        try:
            self.consul.agent.service.deregister(self.service_id)
            log.info("deregistered from consul", extra={"service_id": self.service_id})
        except Exception:  # the agent may already be gone; shutting down must go on
            log.exception("could not deregister from consul")


def register_with_consul(app, name):
    """Mark the app for self-registration; the gunicorn master does it once the socket listens.
    A companion with a port (user-service's gRPC API) is in the same entry: its port in the
    meta as grpc_port, with a gRPC check beside the HTTP one."""
    service_hooks = hooks(app)
    grpc_ports = {f"{c.kind}_port": c.port for c in service_hooks.companions if c.port}
    service_hooks.registrations.append(ConsulRegistration(name, port=os.getenv("PORT", "5000"), ports=grpc_ports))
    return app
