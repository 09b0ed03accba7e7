"""Who listens on a port: a program that is not ours (before a demo starts), or our own process
(before the launcher calls it ready). Read from /proc, as `ss -ltnp` does."""

import contextlib
import errno
import os
import socket
from pathlib import Path

PROC = Path("/proc")
CLIENT_PORTS = PROC / "sys/net/ipv4/ip_local_port_range"
RESERVED_PORTS = PROC / "sys/net/ipv4/ip_local_reserved_ports"


def bind_error(port, kind=socket.SOCK_STREAM):
    """Why binding `port` on every address fails (errno.EADDRINUSE: something else holds it;
    errno.EACCES: a port under 1024, and we are not root), or None."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no owner
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as exc:
            return exc.errno
    return None


def taken(port, kind=socket.SOCK_STREAM):
    """True if binding `port` on every address fails because something else holds it."""
    return bind_error(port, kind) == errno.EADDRINUSE


def lent_to_clients(port):
    """True if the kernel may give `port` to an outgoing connection as its own end (gRPC's 50051
    lies in that range): then a client, not a server, can be what holds it."""
    low, high = (int(x) for x in CLIENT_PORTS.read_text().split())
    return low <= port <= high


@contextlib.contextmanager
def kept_from_clients(ports):
    """While the block runs, the kernel gives none of `ports` to an outgoing connection
    (net.ipv4.ip_local_reserved_ports); then the setting is put back. Only root may: for anyone
    else this does nothing."""
    # Only what this block adds is taken away again, whatever others (a second test session)
    # reserved or gave back meanwhile: putting back a copy of the setting would undo theirs.
    added = {p for p in ports if lent_to_clients(p)} - reserved_ports()
    try:
        _write_reserved(reserved_ports() | added)
        reserved = True
    except OSError:
        reserved = False  # not root
    try:
        yield
    finally:
        if reserved:
            _write_reserved(reserved_ports() - added)


def reserved_ports():
    """The ports in net.ipv4.ip_local_reserved_ports ("50050-50051,8080" as a set)."""
    found = set()
    for part in filter(None, RESERVED_PORTS.read_text().strip().split(",")):
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found


def _write_reserved(ports):
    ranges, ordered = [], sorted(ports)
    for port in ordered:
        if ranges and port == ranges[-1][1] + 1:
            ranges[-1][1] = port
        else:
            ranges.append([port, port])
    RESERVED_PORTS.write_text(",".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges) + "\n")


def _listening_inodes(net_dir, port):
    """Socket inodes listening on `port` in the network namespace `net_dir` (/proc/<pid>/net)."""
    inodes = set()
    for table, state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            lines = (net_dir / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _socket_inodes(pid):
    inodes = set()
    try:
        for fd in (PROC / str(pid) / "fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass  # gone, or not ours to read
    return inodes


def _pids():
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def _name(pid):
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return "?"


def holders(port):
    """[(pid, program)] of what listens on `port` in this network namespace (all of them as
    root; only our own user's otherwise)."""
    wanted = _listening_inodes(PROC / "net", port)
    return sorted((pid, _name(pid)) for pid in _pids() if wanted and _socket_inodes(pid) & wanted)


def descendants(root):
    """`root` and every process below it (a master and its workers, a shell and what it execs)."""
    children = {}
    for pid in _pids():
        try:
            ppid = int((PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def listens(root, port):
    """Does `root`, or a process below it, listen on `port` (in its own network namespace)?"""
    for pid in descendants(root):
        if _socket_inodes(pid) & _listening_inodes(PROC / str(pid) / "net", port):
            return True
    return False
