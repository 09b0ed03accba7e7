"""The discovery demo's registry: one Consul agent in dev mode, with the demo's consul.hcl."""

from ..process import ROOT, Process, http_ok
from . import nats
from .binaries import built_binary

CONSUL_CONFIG = ROOT / "service-discovery" / "consul" / "consul.hcl"


def consul_binary():
    return built_binary("consul")


def agent(demo):
    # With namespaces, instances reach the agent at the host's end of the bridge too.
    clients = " ".join(["127.0.0.1", *([demo.network.gateway_address] if demo.network else [])])
    return Process(
        name="consul",
        argv=[
            consul_binary(),
            "agent",
            "-dev",
            "-ui",
            f"-config-file={CONSUL_CONFIG}",
            f"-config-file={nats.consul_definition(demo)}",
            f"-client={clients}",
            "-bind=127.0.0.1",
            *demo.ports.consul_flags(),
        ],
        env={"CHECKPOINT_DISABLE": "1"},
        # Its own folder: a dev agent has no data dir and reads ./services as its saved services,
        # which from the repository's root is the Python package of that name.
        cwd=demo.workdir / "consul",
        log_path=demo.workdir / "logs" / "consul.log",
        # Up once it has elected itself leader: before that it cannot register anyone.
        ready=lambda: http_ok(f"{demo.consul_url}/v1/status/leader")[1].strip(b'"\n') != b"",
        port=demo.ports.consul,
    )


def lookups_logged(log_text, service="user-service"):
    """Health queries for `service` that the dev agent logged (it logs each request it finished),
    the cached view's blocking queries (`index=`) left out: those return when the set changes or
    their wait is up, whatever the orders do. One count for the bench and the tests."""
    lines = log_text.splitlines() if isinstance(log_text, str) else log_text.decode(errors="replace").splitlines()
    return sum(1 for line in lines if f"url=/v1/health/service/{service}" in line and "index=" not in line)
