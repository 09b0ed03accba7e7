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
    "notification": "NOTIFICATION_PORT",
    "nats": "NATS_PORT",
    "nats_monitor": "NATS_MONITOR_PORT",
    "user_grpc": "GRPC_PORT",
    "gateway_grpc": "GATEWAY_GRPC_PORT",
    "rest_to_grpc": "REST_TO_GRPC_PORT",
}


@dataclass
class Ports:
    """The doc's ports by default. Consul's other ports keep their usual distance from HTTP's."""

    gateway: int = 80
    user: int = 5001
    order: int = 5002
    consul: int = 8500
    load_balancer: int = 5004  # server-side discovery only
    notification: int = 5003
    nats: int = 4222
    nats_monitor: int = 8222  # NATS's health (/healthz) and monitoring
    # USER_API=grpc only: user-service's gRPC API, nginx's gRPC port, the REST-to-gRPC translation.
    user_grpc: int = 50051
    gateway_grpc: int = 50050
    rest_to_grpc: int = 5005

    @classmethod
    def block(cls, base):
        """Every port of a demo from one base, so several demos run at once (tests, benchmark):
        block(15000) is gateway 15080, user 15001, order 15002, notification 15003, Consul 15500,
        NATS 15700, ... Keep bases under 29000: the ports stay below 32768, out of the range the
        kernel hands to client connections (a port there may be any connection's own)."""
        return cls(
            gateway=base + 80,
            user=base + 1,
            order=base + 2,
            notification=base + 3,
            load_balancer=base + 4,
            rest_to_grpc=base + 5,
            gateway_grpc=base + 50,
            user_grpc=base + 51,
            consul=base + 500,
            nats=base + 700,
            nats_monitor=base + 800,
        )

    @classmethod
    def from_env(cls):
        """GATEWAY_PORT, USER_PORT, ... (PORT_VARIABLES) move the ports."""
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

    @property
    def consul_serf_lan(self):
        """Where Consul agents gossip (and -retry-join another)."""
        return self.consul - 199

    def consul_flags(self):
        c = self.consul
        return [
            f"-http-port={c}",
            f"-dns-port={c + 100}",
            f"-server-port={c - 200}",
            f"-serf-lan-port={self.consul_serf_lan}",
            f"-serf-wan-port={c - 198}",
            f"-grpc-port={c + 2}",
            f"-grpc-tls-port={c + 3}",
        ]
