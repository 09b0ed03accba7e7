"""The ports a local demo listens on: the doc's by default, each changeable for a run."""

import os
from dataclasses import dataclass

# Variable a user sets to move each port (make help lists them).
PORT_VARIABLES = {
    "gateway": "GATEWAY_PORT",
    "user": "USER_PORT",
    "order": "ORDER_PORT",
    "consul": "CONSUL_PORT",
    "load_balancer": "LOAD_BALANCER_PORT",
}


@dataclass
class Ports:
    """The doc's ports by default. Consul's other ports keep their usual distance from HTTP's."""

    gateway: int = 80
    user: int = 5001
    order: int = 5002
    consul: int = 8500
    load_balancer: int = 5003  # server-side discovery only

    @classmethod
    def from_env(cls):
        """GATEWAY_PORT, USER_PORT, ORDER_PORT, CONSUL_PORT, LOAD_BALANCER_PORT move the ports."""
        defaults = cls()
        return cls(**{name: int(os.getenv(var, getattr(defaults, name))) for name, var in PORT_VARIABLES.items()})

    @property
    def consul_dns(self):
        return self.consul + 100

    @property
    def names(self):
        """The gateway's DNS with namespaces (dnsmasq; compose has Docker's DNS): 5053 by default."""
        return self.user + 52

    def consul_ports(self):
        """(port, what) of every port the Consul agent binds, from CONSUL_PORT."""
        c = self.consul
        return [
            (c, "Consul HTTP"),
            (c + 100, "Consul DNS"),
            (c - 200, "Consul server RPC"),
            (c - 199, "Consul LAN gossip"),
            (c - 198, "Consul WAN gossip"),
            (c + 2, "Consul gRPC"),
            (c + 3, "Consul gRPC TLS"),
        ]

    def consul_flags(self):
        c = self.consul
        return [
            f"-http-port={c}",
            f"-dns-port={c + 100}",
            f"-server-port={c - 200}",
            f"-serf-lan-port={c - 199}",
            f"-serf-wan-port={c - 198}",
            f"-grpc-port={c + 2}",
            f"-grpc-tls-port={c + 3}",
        ]
