"""How a service finds another: the one thing the two demos do differently.

Each demo's app.py hands its service one of two `find` functions: `through_gateway` (Solution 1:
every service is behind the gateway, the broker at NATS_URL) or `through_consul` (Solution 2: ask
Consul). `find("user-service")` is a locator: `base_url()` for the next call, `urls()` for all.
"""

import itertools
import logging
import math
import os
import random
import socket
import threading
import time

import requests

log = logging.getLogger("locator")

FLAVOURS = ("client", "dns", "server")  # DISCOVERY: how order-service finds user-service
LOOKUPS = ("cached", "per-request")  # CONSUL_LOOKUP: a kept view, or Consul asked before every call


class NoInstanceAvailable(Exception):
    """Nowhere to send the call: the registry has no passing instance, or cannot be asked."""


class FixedLocator:
    """One address that does not change: the gateway (Solution 1), or the load balancer that
    discovers for us (server-side discovery). GATEWAY_URL, as in the doc's code, or `url`."""

    def __init__(self, url=None):
        self.url = (url or os.getenv("GATEWAY_URL", "http://gateway")).rstrip("/")

    def base_url(self):
        return self.url

    def urls(self):
        return [self.url]


class RoundRobin:
    """A locator over a changing set of instances: each call takes the next passing one."""

    def __init__(self, scheme="http"):
        self.scheme = scheme
        self._turn = itertools.count()

    def passing_instances(self):
        raise NotImplementedError

    def urls(self):
        """Every passing instance (a client that keeps a list, as the broker's does)."""
        instances = self.passing_instances()
        if not instances:
            raise NoInstanceAvailable(f"no passing instance of {self.where}")
        return [f"{self.scheme}://{host}:{port}" for host, port in instances]

    def base_url(self):
        urls = self.urls()
        return urls[next(self._turn) % len(urls)]


def stale_limit(value):
    """CONSUL_STALE_SECONDS as a number: nan would pass every comparison, so never go stale."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0 <= seconds < math.inf:
        raise ValueError(f"CONSUL_STALE_SECONDS must be a number of seconds, 0 or more, not {value!r}")
    return seconds


class ConsulLocator(RoundRobin):
    """Discovery demo: the passing instances of a service, from Consul, called directly.

    CONSUL_LOOKUP=cached (the default): a background thread keeps a local view of the passing
    instances, refreshed by Consul blocking queries, so a call costs no Consul round trip. If
    Consul goes away, the last view keeps serving for CONSUL_STALE_SECONDS, then calls fail
    with NoInstanceAvailable: "registry down = no new discovery", bounded.

    CONSUL_LOOKUP=per-request: the doc's code as written, one health query before every call.
    """

    def __init__(self, service="user-service", client=None, lookup=None, stale_seconds=None, scheme="http", port=None):
        import consul  # only the discovery demo uses py-consul

        super().__init__(scheme)
        # A named port from the instances' meta (user-service's "grpc_port"), instead of the service's.
        self.port_meta = port
        self.service = service
        self.where = f"{service} in consul"
        self.lookup = lookup or os.getenv("CONSUL_LOOKUP", "cached")
        if self.lookup not in LOOKUPS:
            raise ValueError(f"CONSUL_LOOKUP must be one of {', '.join(LOOKUPS)}, not {self.lookup!r}")
        self.stale_seconds = stale_limit(
            os.getenv("CONSUL_STALE_SECONDS", "300") if stale_seconds is None else stale_seconds
        )
        self._consul_module = consul
        # CONSUL_HTTP_ADDR (host:port) names the agent; a timeout so a hung agent cannot hang us.
        self.consul = client or consul.Consul(connections_timeout=2)
        self._lock = threading.Lock()
        self._instances = None  # the local view; None until the first answer
        self._failing_since = None  # when Consul stopped answering, if it has
        self._watcher_pid = None
        self._watcher = None
        self._first_answer = threading.Event()
        self._stopping = threading.Event()

    # -- the doc's query --------------------------------------------------------------------

    def query(self, client=None, index=None, wait=None):
        """(index, [(host, port)]) of the passing instances: `health.service(name, passing=True)`."""
        kwargs = {"index": index, "wait": wait} if index else {}
        try:
            index, entries = (client or self.consul).health.service(self.service, passing=True, **kwargs)
            found = [(e["Service"]["Address"] or e["Node"]["Address"], self._port(e["Service"])) for e in entries]
        except (requests.RequestException, self._consul_module.ConsulException) as exc:
            raise NoInstanceAvailable(f"consul unreachable ({type(exc).__name__})") from None
        except (ValueError, KeyError, TypeError) as exc:  # an answer we cannot read is no answer
            raise NoInstanceAvailable(f"consul answered what we cannot read ({type(exc).__name__})") from None
        return index, [(host, port) for host, port in found if port is not None]

    def _port(self, service):
        """The service's port, or the named one from its meta; None (left out) when the instance
        does not name that port: its HTTP port would not speak the protocol we want."""
        if self.port_meta is None:
            return service["Port"]
        named = str((service.get("Meta") or {}).get(self.port_meta, ""))
        return int(named) if named.isdigit() and 0 < int(named) < 65536 else None

    def passing_instances(self):
        if self.lookup == "per-request":
            return self.query()[1]
        self._ensure_watcher()
        with self._lock:
            instances, failing_since = self._instances, self._failing_since
        if instances is None:
            raise NoInstanceAvailable("consul unreachable, and no instance known yet")
        if failing_since is not None and time.monotonic() - failing_since > self.stale_seconds:
            stale = f"consul unreachable for over {self.stale_seconds:.0f}s; known instances too stale"
            raise NoInstanceAvailable(stale)
        return instances

    # -- the cached view ----------------------------------------------------------------------

    def start(self):
        """Learn the instances now rather than on the first call (a no-op per request)."""
        if self.lookup == "cached":
            self._ensure_watcher()

    def _ensure_watcher(self):
        """Start the watcher once per process (gunicorn forks workers after loading the app);
        callers wait, briefly, for its first answer."""
        if self._watcher_pid != os.getpid():
            with self._lock:
                if self._watcher_pid != os.getpid():
                    self._watcher_pid = os.getpid()
                    self._first_answer = threading.Event()
                    name = f"consul-watch-{self.service}"
                    self._watcher = threading.Thread(target=self._watch, name=name, daemon=True)
                    self._watcher.start()
        self._first_answer.wait(timeout=5)

    def stop(self, timeout=0.0):
        """End the watch (a service's ends with its process; a test's or the bench's here): after
        the query in flight, which a live Consul may hold for its wait (30 s): waits for it at
        most `timeout` seconds. Returns whether it has ended."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout)
            return not self._watcher.is_alive()
        return True

    def _store(self, instances):
        with self._lock:
            if instances is None:
                self._failing_since = self._failing_since or time.monotonic()
            else:
                self._instances, self._failing_since = instances, None

    def _watch(self):
        """Blocking queries: Consul answers when the passing set changes, or after `wait`."""
        client = self._consul_module.Consul(connections_timeout=5)  # this thread's own connection
        index, delay = None, 0.2
        while not self._stopping.is_set():
            try:
                new_index, instances = self.query(client, index=index, wait="30s")
                int(new_index)  # the index must be a number to block on (see below)
            except Exception as exc:  # whatever it is, the watch must go on, or the view freezes unbounded
                self._store(None)
                self._first_answer.set()
                log.warning("consul watch failed; serving the last known instances", extra={"error": str(exc)})
                self._stopping.wait(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 5.0)
                index = None
                continue
            delay = 0.2
            self._store(instances)
            self._first_answer.set()
            # An index that goes backwards (agent restarted) starts the watch over.
            index = new_index if index is None or int(new_index) >= int(index) else None


class DnsLocator(RoundRobin):
    """DNS-based discovery: an SRV query for <service>.service.consul to Consul's DNS interface
    (CONSUL_DNS_ADDR, host:port, :8600). Consul answers with passing instances only, and the
    caller needs no Consul client, just DNS: one query per call (Consul's DNS TTL is 0)."""

    def __init__(self, service="user-service", dns_addr=None, scheme="http"):
        import dns.resolver

        super().__init__(scheme)
        self.server_host, port = (dns_addr or os.getenv("CONSUL_DNS_ADDR", "127.0.0.1:8600")).rsplit(":", 1)
        self._dns = dns
        self.resolver = dns.resolver.Resolver(configure=False)
        self.resolver.nameservers = [socket.gethostbyname(self.server_host)]
        self.resolver.port = int(port)
        self.resolver.lifetime = 1.0
        self.name = f"{service}.service.consul"
        self.where = f"{self.name} in consul DNS"

    def passing_instances(self):
        try:
            answer = self.resolver.resolve(self.name, "SRV")
        except (self._dns.resolver.NXDOMAIN, self._dns.resolver.NoAnswer):
            return []
        except self._dns.exception.DNSException as exc:
            self._find_server_again()
            raise NoInstanceAvailable(f"consul DNS unreachable ({type(exc).__name__})") from None
        # Consul puts each target's address in the additional section.
        addresses = {
            rrset.name: rrset[0].address
            for rrset in answer.response.additional
            if rrset.rdtype == 1  # A
        }
        return sorted((addresses.get(r.target, str(r.target).rstrip(".")), r.port) for r in answer)

    def _find_server_again(self):
        """A recreated Consul container comes back at another address: look its name up again."""
        try:
            self.resolver.nameservers = [socket.gethostbyname(self.server_host)]
        except OSError:
            pass  # not found now: the next failed call tries again


def through_gateway(service):
    """Solution 1: every service is behind the gateway (GATEWAY_URL, as in the doc's code), its
    gRPC API too (GATEWAY_GRPC_URL, nginx's gRPC port); the broker, which speaks NATS and not
    HTTP, is at NATS_URL."""
    if service == "nats":
        return FixedLocator(os.getenv("NATS_URL", "nats://nats:4222"))
    if service.endswith("-grpc"):
        return FixedLocator(os.getenv("GATEWAY_GRPC_URL", "grpc://api-gateway:50050"))
    return FixedLocator(os.getenv("GATEWAY_URL", "http://gateway"))


def through_consul(service):
    """Solution 2: Consul's passing instances; user-service by the DISCOVERY flavour (its gRPC
    API client-side or by DNS: a load balancer of gRPC is not part of this demo)."""
    if service == "nats":
        return ConsulLocator("nats", scheme="nats")
    if service == "user-service":
        return discovery_locator(service)
    if service.endswith("-grpc"):  # the instances' gRPC port, from their meta (DNS has no meta)
        return ConsulLocator(service.removesuffix("-grpc"), scheme="grpc", port="grpc_port")
    return ConsulLocator(service)


def discovery_locator(service="user-service"):
    """The discovery demo's flavour, by DISCOVERY: client (default), dns or server."""
    flavour = os.getenv("DISCOVERY", "client")
    if flavour == "client":
        return ConsulLocator(service)
    if flavour == "dns":
        return DnsLocator(service)
    if flavour == "server":
        return FixedLocator(os.getenv("LOAD_BALANCER_URL", "http://load-balancer"))
    raise ValueError(f"DISCOVERY must be one of {', '.join(FLAVOURS)}, not {flavour!r}")
