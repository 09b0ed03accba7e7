"""The broker: one NATS server with JetStream, its store under the demo's data folder."""

import json
import urllib.request

from ..process import ROOT, Process, http_ok
from .binaries import built_binary

CONFIG = ROOT / "communication" / "asynchronous" / "nats-server.conf"
# The discovery demo lists the broker in Consul: compose gives the agent this file; local mode
# registers the same definition through the agent's API, at the local address.
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


def register_in_consul(demo):
    """Announce the broker to the demo's Consul agent, as compose's nats.json does."""
    service = json.loads(CONSUL_DEFINITION.read_text())["service"]
    service.update(address=demo.broker_host, port=demo.ports.nats)
    service["check"]["http"] = f"http://{demo.broker_host}:{demo.ports.nats_monitor}/healthz"
    request = urllib.request.Request(
        f"{demo.consul_url}/v1/agent/service/register", data=json.dumps(service).encode(), method="PUT"
    )
    urllib.request.urlopen(request, timeout=5).close()
