"""Service names for instances with addresses of their own (NETNS=1): what Docker's DNS does in
compose, done by dnsmasq serving a hosts file the launcher keeps current."""

import os
import pwd

from ..process import Process
from .binaries import system_binary


def dnsmasq(demo):
    """dnsmasq answering user-service / order-service from the demo's hosts file."""
    import dns.exception  # dnspython, already a dependency (DNS-based discovery)
    import dns.message
    import dns.query

    demo.hosts_file.parent.mkdir(parents=True, exist_ok=True)
    demo.hosts_file.touch()

    def answers():
        try:  # any answer will do: names come as the services start
            return dns.query.udp(dns.message.make_query("order-service", "A"), "127.0.0.1", 1.0, demo.ports.names)
        except (OSError, dns.exception.DNSException):
            return False

    return Process(
        name="names",
        argv=[
            system_binary("dnsmasq", "dnsmasq-base"),
            "--keep-in-foreground",
            "--log-facility=-",
            "--conf-file=/dev/null",
            "--no-resolv",  # answers only our names, asks nobody upstream
            "--no-hosts",
            f"--addn-hosts={demo.hosts_file}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            f"--port={demo.ports.names}",
            "--pid-file=",
            f"--user={pwd.getpwuid(os.geteuid()).pw_name}",
        ],
        log_path=demo.workdir / "logs" / "names.log",
        ready=answers,
        port=demo.ports.names,
    )


def publish(hosts_file, entries):
    """Point each name at its addresses, [(address, name)], in place: nginx sees the file through
    a bind mount, so it must stay the same file."""
    with open(hosts_file, "r+") as hosts:
        hosts.write("".join(f"{address} {name}\n" for address, name in entries))
        hosts.truncate()
