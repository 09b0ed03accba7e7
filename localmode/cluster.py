"""The discovery demo beyond one machine (CLUSTER=1): hosts as network namespaces, each at its
own address, with a Consul server cluster, a Consul client agent per app host, and a NATS cluster.

    host's bridge mdclu-br 10.213.100.1
      ├─ server-1 10.213.100.2   consul-server-1 ─┐ raft: one leader, quorum 2 of 3
      ├─ server-2 10.213.100.3   consul-server-2 ─┤ nats-1..3: routes, JetStream streams R3
      ├─ server-3 10.213.100.4   consul-server-3 ─┘ (each NATS server listed by its host's agent)
      ├─ app-1    10.213.100.5   consul-agent-1, user-service, notification-service, order-service
      ├─ app-2    10.213.100.6   consul-agent-2, user-service-2, notification-service-2, order-service-2
      └─ app-3    10.213.100.7   consul-agent-3, user-service-3, notification-service-3, order-service-3

Each instance registers with its own host's agent (127.0.0.1 inside the namespace) and asks it,
never a server, for the others, over HTTP or DNS. The services connect to every passing NATS
server. One launcher: ClusterDemo is a LocalDemo with another plan, started group by group
(a cluster's members must start together: none is up until a quorum is).

    with ClusterDemo(workdir=tmp, ports=Ports.block(30000), network=Network("mdclt", ...)) as demo:
        demo.leader(), demo.cut(demo.app_hosts[2]), demo.order_urls ...
"""

import json
from concurrent.futures import ThreadPoolExecutor

from .demo import LocalDemo
from .netns import Network, ip
from .ports import Ports
from .process import http_ok
from .programs import cluster, services

SERVERS = 3  # Consul servers and NATS servers: a quorum of 2 survives one loss
APP_HOSTS = 3


def default_network():
    """The demo's own network: a name and subnet no other demo or test uses."""
    return Network("mdclu", "10.213.100.0/24")


class ClusterDemo(LocalDemo):
    def __init__(
        self, workdir=None, ports=None, network=None, service_env=None, workers=1, nats_route_port=6222, **kwargs
    ):
        settings = {"NATS_REPLICAS": str(SERVERS), **(service_env or {})}
        super().__init__(
            "discovery",
            workdir=workdir,
            ports=ports or Ports(),
            network=network or default_network(),
            service_env=settings,
            workers=workers,
            instances=dict.fromkeys(services.SERVICES, APP_HOSTS),
            **kwargs,
        )
        if self.discovery == "server":
            raise ValueError("CLUSTER=1 runs DISCOVERY=client or dns (no load balancer in the cluster)")
        self.nats_route_port = nats_route_port
        self.server_hosts = []
        self.app_hosts = []

    # -- where a client finds it ---------------------------------------------------------------

    def agent_url(self, host):
        return f"http://{host.address}:{self.ports.consul}"

    @property
    def consul_url(self):
        """The agent of app host 1: where the launcher, like a service, asks."""
        return self.agent_url(self.app_hosts[0]) if self.app_hosts else f"http://127.0.0.1:{self.ports.consul}"

    @property
    def user_url(self):
        return f"http://{self.app_hosts[0].address}:{self.ports.user}"

    @property
    def order_url(self):
        return f"http://{self.app_hosts[0].address}:{self.ports.order}"

    def urls(self, service):
        """Every app host's instance of `service`."""
        port = getattr(self.ports, services.PORT_FIELDS[service])
        return [f"http://{host.address}:{port}" for host in self.app_hosts]

    @property
    def broker_host(self):
        return self.server_hosts[0].address if self.server_hosts else "127.0.0.1"

    @property
    def nats_urls(self):
        return [f"nats://{host.address}:{self.ports.nats}" for host in self.server_hosts]

    def monitor_url(self, number):
        """NATS server `number`'s monitoring (/healthz, /jsz)."""
        return f"http://{self.server_hosts[number - 1].address}:{self.ports.nats_monitor}"

    def host_of(self, name):
        return self.processes[name].namespace

    # -- the plan ------------------------------------------------------------------------------

    def settings_for(self, service):
        """Every instance asks the agent of its own host, on the namespace's loopback."""
        return {
            "CONSUL_HTTP_ADDR": f"127.0.0.1:{self.ports.consul}",
            "CONSUL_DNS_ADDR": f"127.0.0.1:{self.ports.consul_dns}",
        }

    def ports_to_bind(self):
        return []  # every program listens in a namespace of its own: nothing on this host's ports

    def groups(self):
        """The processes, in groups started together and waited for together, in order."""
        servers = [cluster.consul_server(self, host, n) for n, host in enumerate(self.server_hosts, 1)]
        brokers = [cluster.nats_server(self, host, n) for n, host in enumerate(self.server_hosts, 1)]
        agents = [cluster.consul_agent(self, host, n) for n, host in enumerate(self.app_hosts, 1)]
        port = {s: getattr(self.ports, services.PORT_FIELDS[s]) for s in services.SERVICES}
        instances = [
            [
                services.instance(self, s, port[s], s if n == 1 else f"{s}-{n}", host=host)
                for n, host in enumerate(self.app_hosts, 1)
            ]
            for s in services.SERVICES
        ]
        return [servers, agents, brokers, *instances]

    def plan(self):
        return [process for group in self.groups() for process in group]

    # -- life cycle ----------------------------------------------------------------------------

    def start(self):
        try:
            self.network.create()
            self.network.allow_between_namespaces()
            self.server_hosts = [self.network.add() for _ in range(SERVERS)]
            self.app_hosts = [self.network.add() for _ in range(APP_HOSTS)]
            for group in self.groups():
                for process in group:
                    self.processes[process.name] = process
                    process.start()
                    self.on_started(process)
                for process in group:
                    process.wait_ready()
                    self._say(f"  {process.name:<24} ready  (pid {process.popen.pid}, {process.address})")
                if group[0].name.startswith("nats"):
                    self.wait_passing("nats", SERVERS)  # so the services find every broker at once
            for service in services.SERVICES:
                self.wait_passing(service, APP_HOSTS)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """The reverse of start, each group stopped together: instances, brokers, agents, servers."""
        started = list(self.processes.values())
        failed = []  # a stop that raises does not leave the groups after it running
        try:
            for kind in (*reversed(services.SERVICES), "nats-", "consul-agent-", "consul-server-"):
                group = [p for p in started if p.name.startswith(kind)]
                with ThreadPoolExecutor(max(1, len(group))) as pool:
                    stops = [pool.submit(process.stop) for process in group]
                    failed += [exc for stop in stops if (exc := stop.exception()) is not None]
        finally:
            self.network.destroy()  # namespaces, bridge and firewall rule, whatever a stop raised
        if failed:
            raise failed[0]

    def restart(self, name):
        """Stop and start a process in place (the same host, address and data), as a host's
        supervisor does; returns once it answers (an instance: once its agent lists it passing)."""
        process = self.processes[name]
        process.stop()
        process.start()
        self.on_started(process)
        process.wait_ready()
        service = services.service_of(name)
        if service:
            self.wait_passing(service, len(self.instances_of(service)))
        return process

    # -- the cluster, as Consul and NATS see it ------------------------------------------------

    def leader(self, via=None):
        """The raft leader's address (host:port), asked of an agent, or None (no quorum, or
        the agent is down)."""
        ok, body = http_ok(f"{via or self.consul_url}/v1/status/leader")
        return (body.strip(b'"\n').decode() or None) if ok else None

    def server_named(self, address):
        """The consul-server-N process whose host has `address` (a leader's host:port)."""
        host = address.split(":")[0]
        return next(p.name for p in self.processes.values() if p.name.startswith("consul-server") and p.address == host)

    def jetstream(self, number):
        """NATS server `number`'s /jsz with stream details: {stream name: its detail}, or None."""
        ok, body = http_ok(f"{self.monitor_url(number)}/jsz?streams=true", timeout=2)
        if not ok:
            return None
        accounts = json.loads(body).get("account_details") or []
        return {s["name"]: s for a in accounts for s in a.get("stream_detail") or []}

    # -- faults --------------------------------------------------------------------------------

    def cut(self, host):
        """Take `host` off the network: its veth on the bridge goes down (its processes run on)."""
        ip("link", "set", host.host_end, "down")

    def reconnect(self, host):
        ip("link", "set", host.host_end, "up")

    # -- what it tells the user ----------------------------------------------------------------

    def describe(self):
        lines = [f"discovery demo is up (local mode, CLUSTER=1). Data and logs: {self.workdir}"]
        for n, host in enumerate(self.server_hosts, 1):
            lines.append(
                f"  server-{n} {host.address:<14} consul-server-{n} http://{host.address}:{self.ports.consul}/ui/"
                f"   nats-{n} nats://{host.address}:{self.ports.nats}"
            )
        for n, host in enumerate(self.app_hosts, 1):
            suffix = "" if n == 1 else f"-{n}"
            lines.append(
                f"  app-{n}    {host.address:<14} consul-agent-{n} http://{host.address}:{self.ports.consul}"
                f"   user-service{suffix} :{self.ports.user}  order-service{suffix} :{self.ports.order}"
                f"  notification-service{suffix} :{self.ports.notification}"
            )
        lines.append(f"  leader: {self.leader() or 'none'}")
        lines.append("Press Ctrl-C to stop.")
        return "\n".join(lines)
