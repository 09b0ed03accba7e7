"""The cluster's own programs (CLUSTER=1): a Consul server, a Consul client agent, a NATS server
that routes to the others. Each runs in a host's network namespace (localmode/cluster.py makes
the hosts), at the host's address, on the demo's ports: every host has all its ports to itself.
"""

from ..process import ROOT, Process, http_ok
from . import nats
from .binaries import built_binary

CONFIGS = ROOT / "service-discovery" / "cluster"
SERVER_CONFIG = CONFIGS / "consul-server" / "server.hcl"
AGENT_CONFIG = CONFIGS / "consul-agent" / "agent.hcl"
NATS_CONFIG = CONFIGS / "nats" / "cluster.conf"


def leader_known(url):
    """Does the agent at `url` know a raft leader (it has joined, and a quorum elected one)?"""
    ok, body = http_ok(f"{url}/v1/status/leader")
    return ok and body.strip(b'"\n') != b""


def _consul(demo, host, name, config, extra, ready):
    """One Consul agent on `host`: its HTTP and DNS on the host's loopback and its address."""
    data = demo.workdir / "data" / name
    data.mkdir(parents=True, exist_ok=True)
    gossip = demo.ports.consul_serf_lan
    joins = [f"-retry-join={other.address}:{gossip}" for other in demo.server_hosts if other is not host]
    return Process(
        name=name,
        argv=[
            *host.exec_prefix(),
            built_binary("consul"),
            "agent",
            f"-config-file={config}",
            f"-node={name}",
            f"-data-dir={data}",
            f"-bind={host.address}",
            f"-client=127.0.0.1 {host.address}",
            *joins,
            *extra,
            *demo.ports.consul_flags(),
        ],
        env={"CHECKPOINT_DISABLE": "1"},
        log_path=demo.workdir / "logs" / f"{name}.log",
        ready=ready,
        port=demo.ports.consul,
        namespace=host,
    )


def consul_server(demo, host, number):
    """A Consul server. Up once a leader is known: with bootstrap_expect 3, only when all three
    run (the launcher starts them together). It also runs the host's NATS check."""
    url = f"http://{host.address}:{demo.ports.consul}"
    definition = nats.consul_definition(
        demo, host.address, demo.workdir / "config" / f"nats-{number}.json", id=f"nats-{number}"
    )
    return _consul(
        demo, host, f"consul-server-{number}", SERVER_CONFIG, [f"-config-file={definition}"], lambda: leader_known(url)
    )


def consul_agent(demo, host, number):
    """The client agent of app host `number`. Up once it has joined and knows the leader."""
    url = f"http://{host.address}:{demo.ports.consul}"
    return _consul(demo, host, f"consul-agent-{number}", AGENT_CONFIG, [], lambda: leader_known(url))


def nats_server(demo, host, number):
    """A NATS server with JetStream, routed to the other two. Up once /healthz answers 200,
    which in a cluster also means JetStream has found its meta leader (so: all started together)."""
    store = demo.workdir / "data" / f"nats-{number}"
    route = demo.nats_route_port
    routes = ",".join(f"nats://{other.address}:{route}" for other in demo.server_hosts if other is not host)
    return Process(
        name=f"nats-{number}",
        argv=[
            *host.exec_prefix(),
            *nats.listening(NATS_CONFIG, host.address, demo, store),
            *["-n", f"nats-{number}", "--cluster", f"nats://{host.address}:{route}", "--routes", routes],
        ],
        log_path=demo.workdir / "logs" / f"nats-{number}.log",
        ready=lambda: nats.healthy(host.address, demo),
        port=demo.ports.nats,
        namespace=host,
    )
