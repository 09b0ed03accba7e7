"""CLUSTER=1's plan, read without starting anything: who joins whom, who asks whom, the configs."""

from localmode import cli
from localmode.cluster import ClusterDemo
from localmode.netns import Namespace
from localmode.process import ROOT

CLUSTER_DIR = ROOT / "service-discovery" / "cluster"


def planned(tmp_path, **kwargs):
    demo = ClusterDemo(workdir=tmp_path, **kwargs)
    hosts = [Namespace(f"mdclu-{n}", f"10.213.100.{n}", f"mdclu-v{n}") for n in range(2, 8)]
    demo.server_hosts, demo.app_hosts = hosts[:3], hosts[3:]
    return demo, {p.name: p for p in demo.plan()}


def test_three_servers_join_each_other_and_every_agent_joins_the_servers(tmp_path):
    demo, plan = planned(tmp_path)
    servers = [plan[f"consul-server-{n}"] for n in (1, 2, 3)]
    agents = [plan[f"consul-agent-{n}"] for n in (1, 2, 3)]
    for server in servers:
        joins = [a for a in server.argv if a.startswith("-retry-join=")]
        assert len(joins) == 2 and f"-retry-join={server.address}:8301" not in joins
        assert f"-config-file={CLUSTER_DIR / 'consul-server' / 'server.hcl'}" in server.argv
        assert server.env["CHECKPOINT_DISABLE"] == "1"
        assert server.argv[:4] == ["ip", "netns", "exec", server.namespace.name]
    for agent in agents:
        assert sorted(a for a in agent.argv if a.startswith("-retry-join=")) == [
            f"-retry-join=10.213.100.{n}:8301" for n in (2, 3, 4)
        ]
        assert f"-client=127.0.0.1 {agent.address}" in agent.argv


def test_each_instance_asks_its_own_hosts_agent_and_every_broker(tmp_path):
    demo, plan = planned(tmp_path)
    for name in ("user-service", "order-service-2", "notification-service-3"):
        instance = plan[name]
        assert instance.env["CONSUL_HTTP_ADDR"] == "127.0.0.1:8500"  # the agent in its namespace
        assert instance.env["CONSUL_DNS_ADDR"] == "127.0.0.1:8600"
        assert instance.env["SERVICE_ADDRESS"] == instance.address
        assert instance.env["NATS_REPLICAS"] == "3"
        assert instance.on_stop is None  # the host's namespace outlives its instances
    hosts = {plan[f"{s}-2"].namespace.name for s in ("user-service", "order-service", "notification-service")}
    assert hosts == {plan["consul-agent-2"].namespace.name}
    routes = [plan[f"nats-{n}"].argv[plan[f"nats-{n}"].argv.index("--routes") + 1] for n in (1, 2, 3)]
    assert routes[0] == "nats://10.213.100.3:6222,nats://10.213.100.4:6222"
    assert all(len(r.split(",")) == 2 for r in routes)


def test_every_cluster_config_turns_off_the_update_check():
    for config in (CLUSTER_DIR / "consul-server" / "server.hcl", CLUSTER_DIR / "consul-agent" / "agent.hcl"):
        assert "disable_update_check = true" in config.read_text()
    assert "bootstrap_expect = 3" in (CLUSTER_DIR / "consul-server" / "server.hcl").read_text()


def test_without_cluster_the_launcher_is_as_before(monkeypatch):
    monkeypatch.delenv("CLUSTER", raising=False)
    assert cli.parser().parse_args(["run", "discovery"]).cluster is False
    monkeypatch.setenv("CLUSTER", "1")
    assert cli.parser().parse_args(["run", "discovery"]).cluster is True
