"""How order-service finds user-service: the one thing the two demos do differently."""

import itertools
import os

import requests


class NoInstanceAvailable(Exception):
    """Nowhere to send the call: the registry has no passing instance, or cannot be asked."""


class GatewayLocator:
    """Gateway demo: only the gateway knows where user-service runs; we know the gateway."""

    def __init__(self, gateway_url=None):
        self.gateway_url = (gateway_url or os.getenv("GATEWAY_URL", "http://gateway")).rstrip("/")

    def base_url(self):
        return self.gateway_url


class ConsulLocator:
    """Discovery demo: ask Consul for the passing instances of a service, call one directly.

    The doc's code, asked once per call (see the README for the cached variant's trade-off).
    """

    def __init__(self, service="user-service", client=None):
        import consul  # only the discovery demo installs py-consul

        self.service = service
        self._consul_error = consul.ConsulException
        # CONSUL_HTTP_ADDR (host:port) names the agent; a short timeout so a hung agent cannot hang us.
        self.consul = client or consul.Consul(connections_timeout=2)
        self._turn = itertools.count()

    def passing_instances(self):
        try:
            _, entries = self.consul.health.service(self.service, passing=True)
        except (requests.RequestException, self._consul_error) as exc:
            raise NoInstanceAvailable(f"consul unreachable: {type(exc).__name__}") from None
        return [
            (entry["Service"]["Address"] or entry["Node"]["Address"], entry["Service"]["Port"]) for entry in entries
        ]

    def base_url(self):
        instances = self.passing_instances()
        if not instances:
            raise NoInstanceAvailable(f"no passing instance of {self.service} in consul")
        host, port = instances[next(self._turn) % len(instances)]  # round-robin
        return f"http://{host}:{port}"
