"""The broker: one NATS server with JetStream, its store under the demo's data folder."""

import json
import urllib.request

from ..process import ROOT, Process, http_ok
from .binaries import built_binary

CONFIG = ROOT / "communication" / "asynchronous" / "nats-server.conf"
# The discovery demo lists the broker in Consul: compose gives the agent this file; local mode
# registers the same definition through the agent's API, at the local address.
CONSUL_DEFINITION = ROOT / "service-discovery" / "consul" / "nats.json"


def server(demo):
    store = demo.workdir / "data" / "nats"
    store.mkdir(parents=True, exist_ok=True)
    return Process(
        name="nats",
        argv=[
            built_binary("nats-server"),
            "-c",
            str(CONFIG),
            "-a",
            demo.broker_host,
            "-p",
            str(demo.ports.nats),
            "-m",
            str(demo.ports.nats_monitor),
            "-sd",
            str(store),
        ],
        log_path=demo.workdir / "logs" / "nats.log",
        # /healthz answers 200 once JetStream is ready (the js-enabled-only variant says ok too soon).
        ready=lambda: http_ok(f"http://{demo.broker_host}:{demo.ports.nats_monitor}/healthz")[0],
        port=demo.ports.nats,
    )


def register_in_consul(demo):
    """Announce the broker to the demo's Consul agent, as compose's nats.json does."""
    service = json.loads(CONSUL_DEFINITION.read_text())["service"]
    service.update(address=demo.broker_host, port=demo.ports.nats)
    service["check"]["http"] = f"http://{demo.broker_host}:{demo.ports.nats_monitor}/healthz"
    request = urllib.request.Request(
        f"{demo.consul_url}/v1/agent/service/register", data=json.dumps(service).encode(), method="PUT"
    )
    urllib.request.urlopen(request, timeout=5).close()
