"""The broker: one NATS server with JetStream, its store under the demo's data folder."""

import json

from ..process import ROOT, Process, http_ok
from .binaries import built_binary

CONFIG = ROOT / "communication" / "asynchronous" / "nats-server.conf"
# The discovery demo lists the broker in Consul: compose gives the agent this file; local mode
# gives it the same definition at the local address (consul_definition).
CONSUL_DEFINITION = ROOT / "service-discovery" / "consul" / "nats.json"


def listening(config, address, demo, store):
    """nats-server with `config`, listening at `address` on the demo's ports, its store in `store`."""
    store.mkdir(parents=True, exist_ok=True)
    ports = ["-p", str(demo.ports.nats), "-m", str(demo.ports.nats_monitor)]
    return [built_binary("nats-server"), "-c", str(config), "-a", address, *ports, "-sd", str(store)]


def healthy(address, demo):
    """/healthz answers 200 once JetStream is ready (the js-enabled-only variant says ok too soon)."""
    return http_ok(f"http://{address}:{demo.ports.nats_monitor}/healthz")[0]


def server(demo):
    return Process(
        name="nats",
        argv=listening(CONFIG, demo.broker_host, demo, demo.workdir / "data" / "nats"),
        log_path=demo.workdir / "logs" / "nats.log",
        ready=lambda: healthy(demo.broker_host, demo),
        port=demo.ports.nats,
    )


def consul_definition(demo, address=None, path=None, **fields):
    """compose's nats.json at a local address (the demo's broker unless given; a cluster's server
    passes its own, and its id), written for an agent to load as compose's does: a definition in
    its configuration, not one registered through its API, is there again after the dev agent
    restarts with an empty catalog (the services register themselves again)."""
    address = address or demo.broker_host
    definition = json.loads(CONSUL_DEFINITION.read_text())
    service = definition["service"]
    service.update(address=address, port=demo.ports.nats, **fields)
    service["check"]["http"] = f"http://{address}:{demo.ports.nats_monitor}/healthz"
    path = path or demo.workdir / "consul" / "nats.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(definition, indent=2) + "\n")
    return path
