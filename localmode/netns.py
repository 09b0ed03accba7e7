"""Network namespaces for local mode: each user-service instance gets an address of its own.

Containers get their own IP; processes on loopback only get their own port. With namespaces the
local demo answers the doc's questions the way compose does: every instance listens on :5001 at
its own address, and an instance that restarts comes back at a *new* address (addresses are never
reused while the network exists).

    host (bridge mdemo-br, 10.213.0.1) ── veth ── namespace mdemo-2 (10.213.0.2)
                                       ── veth ── namespace mdemo-3 (10.213.0.3) ...

Needs root and `ip` (iproute2). The launcher creates the bridge, adds and removes namespaces, and
deletes everything on stop. Traffic stays between the host and namespaces it created.
"""

import ipaddress
import json
import os
import shutil
import subprocess
from dataclasses import dataclass


class NetnsError(RuntimeError):
    """Namespaces cannot be used here; the message says why."""


def ip(*args, check=True):
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip() or f'exit {result.returncode}'}")
    return result


def available():
    """True when this process may create network namespaces (root with iproute2)."""
    return os.geteuid() == 0 and shutil.which("ip") is not None


@dataclass
class Namespace:
    name: str
    address: str
    host_end: str  # its veth on the host's bridge

    def exec_prefix(self):
        """Run a command inside: `ip netns exec` switches namespace and then execs it (same pid)."""
        return ["ip", "netns", "exec", self.name]


class Network:
    """A bridge on the host and the namespaces hanging off it."""

    def __init__(self, name="mdemo", subnet="10.213.0.0/24"):
        if len(name) > 9:
            raise ValueError("network name: at most 9 characters (Linux limits interface names to 15)")
        self.name = name
        self.subnet = ipaddress.ip_network(subnet)
        hosts = self.subnet.hosts()
        self.gateway_address = str(next(hosts))  # the host's address on the bridge
        self._free = hosts  # never reused: a restart means a new address
        self.bridge = f"{name}-br"
        self.namespaces = []

    def _check_no_overlap(self):
        """Refuse a subnet the host already routes somewhere else (a VPN, a LAN, docker)."""
        routes = json.loads(ip("-j", "route", "show").stdout or "[]")
        for route in routes:
            dst = route.get("dst")
            if route.get("dev") == self.bridge or dst in (None, "default"):
                continue
            if ipaddress.ip_network(dst, strict=False).overlaps(self.subnet):
                raise NetnsError(f"{self.subnet} overlaps the host's route {dst} dev {route.get('dev')}")

    def create(self):
        if not available():
            raise NetnsError("network namespaces need root and iproute2 (`ip`)")
        self.destroy()  # what a killed launcher may have left behind
        self._check_no_overlap()
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway_address}/{self.subnet.prefixlen}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        return self

    def add(self):
        """A new namespace with the next unused address, its veth on the bridge, routed via the host."""
        address = str(next(self._free))
        number = address.rsplit(".", 1)[1]
        ns = Namespace(name=f"{self.name}-{number}", address=address, host_end=f"{self.name}-v{number}")
        ip("netns", "add", ns.name)
        self.namespaces.append(ns)
        ip("link", "add", ns.host_end, "type", "veth", "peer", "name", "eth0", "netns", ns.name)
        ip("link", "set", ns.host_end, "master", self.bridge, "up")
        inside = ["netns", "exec", ns.name, "ip"]
        ip(*inside, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        ip(*inside, "link", "set", "eth0", "up")
        ip(*inside, "link", "set", "lo", "up")
        ip(*inside, "route", "add", "default", "via", self.gateway_address)
        return ns

    def allow_between_namespaces(self):
        """Let the namespaces talk to each other, not only to the host (a cluster's hosts do).
        Where Docker runs, frames crossing a bridge pass the host's iptables (br_netfilter) and
        Docker's FORWARD policy drops them: one rule lets this bridge's own traffic through, and
        destroy() removes it. Nothing else on the host changes."""
        if shutil.which("iptables"):
            result = subprocess.run(["iptables", *self._forward_rule("-I")], capture_output=True, text=True)
            if result.returncode:  # said as every other namespace failure is ("cannot start: ...")
                raise NetnsError(f"iptables {' '.join(self._forward_rule('-I'))}: {result.stderr.strip()}")

    def _forward_rule(self, action):
        return [action, "FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]

    def remove(self, ns):
        """Delete a namespace and its veth pair; its address stops answering.

        The pair is deleted first, by hand: the kernel tears a deleted namespace down later, in
        the background, and until then its veth's name is taken for the next network to use."""
        ip("link", "del", ns.host_end, check=False)
        ip("netns", "del", ns.name, check=False)
        if ns in self.namespaces:
            self.namespaces.remove(ns)

    def destroy(self):
        """Remove every namespace of this network and the bridge, also ones a crashed run left."""
        for link in json.loads(ip("-j", "link", "show", "type", "veth", check=False).stdout or "[]"):
            if link["ifname"].startswith(f"{self.name}-v"):
                ip("link", "del", link["ifname"], check=False)
        listed = ip("netns", "list", check=False).stdout.split("\n")
        for line in listed:
            name = line.split(" ")[0]
            if name.startswith(f"{self.name}-"):
                ip("netns", "del", name, check=False)
        ip("link", "del", self.bridge, check=False)
        for _ in range(10 if shutil.which("iptables") else 0):  # allow_between_namespaces()'s rule, if any
            if subprocess.run(["iptables", *self._forward_rule("-D")], capture_output=True).returncode:
                break
        self.namespaces.clear()
