"""LocalDemo: the processes of one demo, started in order and stopped in reverse order.

    with LocalDemo("gateway", workdir=tmp, ports=Ports(gateway=18080, ...)) as demo:
        requests.post(f"{demo.gateway_url}/users", json={"name": "Alice"})

It waits until every process answers (no fixed sleeps) and stops everything it started, also
when a start fails. The recipes for each program are in programs/; running a demo in the
background (make) is control.py's job.
"""

import errno
import json
import os
import signal
import socket
from pathlib import Path

from . import credentials, sockets
from .ports import PORT_VARIABLES, Ports
from .process import ROOT, StartError, http_ok
from .programs import consul, load_balancer, names, nats, nginx, rest_to_grpc, services
from .programs.services import service_of
from .wait import TimedOut, wait_until

FOLDERS = {"gateway": ROOT / "api-gateway-demo", "discovery": ROOT / "service-discovery"}


class PortTaken(StartError):
    """A port the demo needs is in use; nothing was started."""


def check_ports(demo, ports, wanted, as_we_are=True):
    """PortTaken, with one line saying what holds it and how to move the demo, for the first
    taken port of `wanted`, [(port, what, the field of `ports` that moves it)]. Compose's
    published ports are checked with this too (`as_we_are=False`: Docker's proxy binds them, as
    root, so a port under 1024 needs no root of ours)."""
    for port, what, field in wanted:
        moved = 8080 if field == "gateway" and port != 8080 else getattr(ports, field) + 1000
        move = f"{PORT_VARIABLES[field]}={moved} make {demo}-demo"
        if as_we_are and sockets.bind_error(port) == errno.EACCES:
            raise PortTaken(f"port {port} ({what}) needs root: sudo make {demo}-demo, or move the demo: {move}")
        if sockets.taken(port) or sockets.taken(port, socket.SOCK_DGRAM):
            holder = ", ".join(f"{name} (pid {pid})" for pid, name in sockets.holders(port))
            if not holder and sockets.lent_to_clients(port):
                holder = "an outgoing connection's own end (the kernel lends this port to clients)"
            raise PortTaken(
                f"port {port} ({what}) is taken{f' by {holder}' if holder else ''}: stop it, or move the demo: {move}"
            )


class LocalDemo:
    def __init__(
        self,
        demo,
        workdir=None,
        ports=None,
        workers=2,
        quiet=True,
        instances=None,
        service_env=None,
        gateway_conf_edit=None,
        network=None,
    ):
        if demo not in FOLDERS:
            raise ValueError(f"unknown demo {demo!r}; choose from {', '.join(FOLDERS)}")
        self.demo = demo
        self.folder = FOLDERS[demo]
        self.ports = ports or Ports()
        self.workdir = Path(workdir or ROOT / ".run" / demo).resolve()
        self.workers = workers
        self.quiet = quiet
        self.instances = {**dict.fromkeys(services.SERVICES, 1), **(instances or {})}
        # Settings for every service (and the gateway's template), over the environment's.
        self.service_env = {k: str(v) for k, v in (service_env or {}).items()}
        # For controlled experiments (the benchmark's no-keepalive gateway): edits the rendered config.
        self.gateway_conf_edit = gateway_conf_edit or (lambda text: text)
        # A localmode.netns.Network: each user-service instance then runs in a network namespace
        # of its own, at its own address. Without one, instances share loopback on ports +100.
        self.network = network
        if demo == "gateway" and not network and self.instances["user-service"] > 1:
            raise ValueError("several instances behind the gateway need addresses of their own (--netns)")
        self.processes = {}
        self._published = None  # the names last written to the hosts file
        self._secrets = None
        self.on_started = lambda process: None  # the launcher records each process as it starts

    @property
    def secrets(self):
        """AUTH_SECRET and GATEWAY_SECRET: generated at this demo's first start, kept in its workdir."""
        if self._secrets is None:
            self._secrets = credentials.load_or_create(self.workdir / "secrets.env")
        return self._secrets

    # -- where a client finds it ---------------------------------------------------------------

    @property
    def gateway_url(self):
        return f"http://127.0.0.1:{self.ports.gateway}"

    @property
    def user_url(self):
        return f"http://127.0.0.1:{self.ports.user}"

    @property
    def order_url(self):
        return f"http://127.0.0.1:{self.ports.order}"

    @property
    def load_balancer_url(self):
        return f"http://127.0.0.1:{self.ports.load_balancer}"

    @property
    def consul_url(self):
        return f"http://127.0.0.1:{self.ports.consul}"

    @property
    def entry_urls(self):
        """Where the doc's curl commands go: the gateway, or the services themselves."""
        if self.demo == "gateway":
            return {"users": self.gateway_url, "orders": self.gateway_url}
        return {"users": self.user_url, "orders": self.order_url}

    @property
    def discovery(self):
        """The discovery flavour order-service uses: client, dns or server (DISCOVERY)."""
        return self.service_env.get("DISCOVERY") or os.getenv("DISCOVERY", "client")

    @property
    def user_api(self):
        """How order-service calls user-service: rest or grpc (USER_API)."""
        return self.service_env.get("USER_API") or os.getenv("USER_API", "rest")

    @property
    def hosts_file(self):
        """The names dnsmasq serves (and nginx reads as /etc/hosts) with namespaces."""
        return self.workdir / "names" / "hosts"

    # -- the plan ------------------------------------------------------------------------------

    @property
    def broker_host(self):
        """Where NATS listens: loopback, or with namespaces the host's end of the bridge, which
        the instances inside them reach too."""
        return self.network.gateway_address if self.network else "127.0.0.1"

    @property
    def nats_url(self):
        return f"nats://{self.broker_host}:{self.ports.nats}"

    def settings_for(self, service):
        """How a service of this demo finds the others (and the broker)."""
        if self.demo == "gateway":
            grpc_url = f"grpc://127.0.0.1:{self.ports.gateway_grpc}"
            return {"GATEWAY_URL": self.gateway_url, "GATEWAY_GRPC_URL": grpc_url, "NATS_URL": self.nats_url}
        return {
            "CONSUL_HTTP_ADDR": f"127.0.0.1:{self.ports.consul}",
            "CONSUL_DNS_ADDR": f"127.0.0.1:{self.ports.consul_dns}",
            "SERVICE_ADDRESS": "127.0.0.1",
            "LOAD_BALANCER_URL": self.load_balancer_url,
        }

    def plan(self):
        """The processes of this demo, in start order."""
        every_service = [p for service in services.SERVICES for p in self._instances(service)]
        if self.demo == "gateway":
            return [
                *([names.dnsmasq(self)] if self.network else []),
                nats.server(self),
                *every_service,
                *([rest_to_grpc.translator(self)] if self.user_api == "grpc" else []),
                nginx.gateway(self),
            ]
        return [
            consul.agent(self),
            nats.server(self),
            *([load_balancer.consul_template(self)] if self.discovery == "server" else []),
            *every_service,
        ]

    def in_namespace(self, service):
        return self.network is not None and service == "user-service"

    def instance_ports(self, service):
        """Ports of a service's instances: the doc's port, then +100 for each further one
        (all the doc's port when each instance has an address of its own)."""
        base = getattr(self.ports, services.PORT_FIELDS[service])
        step = 0 if self.in_namespace(service) else 100
        return [base + step * i for i in range(self.instances.get(service, 1))]

    def _instances(self, service):
        """One gunicorn per instance: user-service, user-service-2, ..."""
        return [
            services.instance(self, service, port, service if number == 1 else f"{service}-{number}")
            for number, port in enumerate(self.instance_ports(service), start=1)
        ]

    def ports_to_bind(self):
        """[(port, what, the Ports field that moves it)] this demo will listen on, on this host."""
        wanted = []
        if self.demo == "gateway":
            wanted += [
                (self.ports.gateway, "API gateway", "gateway"),
                (self.ports.gateway_grpc, "API gateway, gRPC", "gateway_grpc"),
            ]
            if self.user_api == "grpc":
                wanted.append((self.ports.rest_to_grpc, "REST-to-gRPC translation", "rest_to_grpc"))
        wanted += [
            (self.ports.nats, "NATS", "nats"),
            (self.ports.nats_monitor, "NATS monitoring", "nats_monitor"),
        ]
        for service, field in services.PORT_FIELDS.items():
            if not self.in_namespace(service):  # in a namespace, an instance has all ports to itself
                wanted += [(port, service, field) for port in self.instance_ports(service)]
                if service == "user-service" and self.user_api == "grpc":
                    step = self.ports.user_grpc - self.ports.user
                    wanted += [
                        (port + step, "user-service's gRPC API", "user_grpc") for port in self.instance_ports(service)
                    ]
        if self.demo == "gateway" and self.network:
            wanted.append((self.ports.names, "dnsmasq, USER_PORT + 52", "user"))
        if self.demo == "discovery":
            wanted += [(port, what, "consul") for port, what in self.ports.consul_ports()]
            if self.discovery == "server":
                wanted.append((self.ports.load_balancer, "load balancer", "load_balancer"))
        return wanted

    def check_ports(self):
        """Stop before anything starts if a port is taken, with one line saying what to do."""
        check_ports(self.demo, self.ports, self.ports_to_bind())

    # -- life cycle ----------------------------------------------------------------------------

    def start(self):
        self.check_ports()
        try:
            if self.network:
                self.network.create()
            for process in self.plan():
                self._run(process)
                self._say(f"  {process.name:<20} ready  (pid {process.popen.pid}, {process.address})")
                if process.name == "nats" and self.demo == "discovery":
                    self.wait_passing("nats", 1)  # so the services find their broker at once
            if self.demo == "discovery":
                for service in services.SERVICES:
                    self.wait_passing(service, self.instances[service])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for process in reversed(list(self.processes.values())):
            process.stop()
        if self.network:
            self.network.destroy()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _run(self, process):
        self.processes[process.name] = process
        process.start()
        self.on_started(process)
        process.wait_ready()
        self._publish_names()
        return process

    # -- instances -----------------------------------------------------------------------------

    def instances_of(self, service, running=True):
        """The processes of a service's instances (by default only those still running)."""
        return [p for n, p in self.processes.items() if service_of(n) == service and (p.running or not running)]

    def addresses(self, service):
        """(address, port) of a service's running instances, as the registry should list them."""
        return sorted((p.address, int(p.env["PORT"])) for p in self.instances_of(service))

    def add_instance(self, service):
        """Start one more instance: at a new address with namespaces, else on the next free port
        (+100). Returns its process."""
        port = self.instance_ports(service)[0]
        if not self.in_namespace(service):
            taken = {int(p.env["PORT"]) for p in self.instances_of(service)}
            port = next(p for p in range(port, 65535, 100) if p not in taken)
        number = 1 + len(self.instances_of(service, running=False))
        return self._run(services.instance(self, service, port, f"{service}-{number}"))

    def restart(self, name):
        """Stop and start an instance. In a namespace it comes back at a new address, as a
        rescheduled container does; on loopback at the same port. In the discovery demo, returns
        once Consul lists it as passing."""
        process = self.processes[name]
        service = service_of(name)
        process.stop()
        if process.namespace:
            self._run(services.instance(self, service, int(process.env["PORT"]), name))
        else:
            process.start()
            self.on_started(process)  # its new pid in the record, for a `make down` after a crash
            process.wait_ready()
            self._publish_names()
        if self.demo == "discovery":
            self.wait_passing(service, len(self.instances_of(service)))
        return self.processes[name]

    def kill(self, name):
        """SIGKILL an instance, as a crash does. It drops out of the gateway's names, as Docker's DNS
        forgets a dead container; in a namespace its address stays and refuses connections."""
        process = self.processes[name]
        process.signal(signal.SIGKILL)
        process.popen.wait(10)
        self._publish_names()

    def _publish_names(self):
        """With namespaces, the gateway finds instances by name: point each at its running ones
        (and with GATEWAY_RESOLVE=follow, have nginx look again when they changed)."""
        if not (self.network and self.demo == "gateway"):
            return
        entries = [(p.address, s) for s in services.SERVICES for p in self.instances_of(s)]
        if entries == self._published:
            return
        self._published = entries
        names.publish(self.hosts_file, entries)
        dnsmasq = self.processes.get("names")
        if dnsmasq and dnsmasq.running:
            dnsmasq.popen.send_signal(signal.SIGHUP)  # dnsmasq re-reads its hosts files
        gateway = self.processes.get("api-gateway")
        if gateway and gateway.running and nginx.follows_by_reload(self):
            self.reload_gateway()

    def reload_gateway(self):
        """`nginx -s reload`: a new configuration load, so upstream names are resolved again.
        Returns once the workers of the old load are gone (bounded): until then one of them may
        still take a new connection and send it to an address that is no more."""
        master = self.processes["api-gateway"].popen.pid
        old_workers = set(sockets.descendants(master)) - {master}
        self.processes["api-gateway"].popen.send_signal(signal.SIGHUP)
        try:
            wait_until(lambda: not old_workers & set(sockets.descendants(master)), 5, "nginx's reload", 0.01)
        except TimedOut:
            pass  # an old worker still finishes a long request; it no longer takes new ones

    # -- the registry, as Consul sees it -------------------------------------------------------

    def passing(self, service):
        """Sorted [(address, port)] of the passing instances; raises if Consul does not answer, so
        that "none passing" is never a registry that was not asked."""
        found = self._passing(service)
        if found is None:
            raise StartError(f"consul at {self.consul_url} did not answer for {service}'s passing instances")
        return found

    def _passing(self, service):
        ok, body = http_ok(f"{self.consul_url}/v1/health/service/{service}?passing=true")
        return sorted((e["Service"]["Address"], e["Service"]["Port"]) for e in json.loads(body)) if ok else None

    def wait_passing(self, service, count, timeout=30.0):
        """Wait until Consul answers with exactly `count` passing instances of `service`."""

        def listed():
            found = self._passing(service)
            return found is not None and len(found) == count

        try:
            wait_until(listed, timeout, f"{count} passing {service}", 0.1)
        except TimedOut:
            raise StartError(f"consul lists {self._passing(service)} for {service}, wanted {count} passing") from None

    # -- what it tells the user ----------------------------------------------------------------

    def _say(self, text):
        if not self.quiet:
            print(text, flush=True)

    def describe(self):
        lines = [f"{self.demo} demo is up (local mode). Data and logs: {self.workdir}"]
        users = ", ".join(f"http://{a}:{p}" for a, p in self.addresses("user-service"))
        notifications = f"http://127.0.0.1:{self.ports.notification}"
        broker = f"{self.nats_url}   (monitoring http://{self.broker_host}:{self.ports.nats_monitor})"
        if self.demo == "gateway":
            lines += [
                f"  API gateway           {self.gateway_url}   (/users, /orders, /notifications, /health)",
                f"  user-service          {users}",
                f"  order-service         {self.order_url}   (calls user-service via the gateway)",
                f"  notification-service  {notifications}   (hears of orders through NATS)",
                f"  NATS JetStream        {broker}",
            ]
        else:
            lines += [
                f"  Consul UI             {self.consul_url}/ui/",
                f"  user-service          {users}",
                f"  order-service         {self.order_url}   (finds user-service through Consul)",
                f"  notification-service  {notifications}   (hears of orders through NATS)",
                f"  NATS JetStream        {broker}",
            ]
        if self.user_api == "grpc":
            grpc_users = ", ".join(
                f"{a}:{p + self.ports.user_grpc - self.ports.user}" for a, p in self.addresses("user-service")
            )
            lines.append(f"  user-service gRPC     {grpc_users}   (users.proto)")
            if self.demo == "gateway":
                lines.append(
                    f"  API gateway gRPC      127.0.0.1:{self.ports.gateway_grpc}   (and /v1/users: REST onto gRPC)"
                )
        if switched := self.switched_on():
            lines.append(f"Settings: {' '.join(switched)}")
        lines.append("Press Ctrl-C to stop.")
        return "\n".join(lines)

    def switched_on(self):
        """The settings this demo runs with that are not the doc's default flow, NAME=value."""
        from .settings import CHOICES

        chosen = {**{k: v for k, v in os.environ.items() if k in CHOICES}, **self.service_env}
        return [f"{k}={v}" for k, v in chosen.items() if k in CHOICES and v != CHOICES[k][0]]
