"""Local mode: run a demo as plain processes, with a real nginx and a real Consul agent.

The one way to start a demo without Docker. The Makefile, the tests and the benchmarks all use it:

    python -m tools.launcher gateway      # nginx :80 -> user-service :5001, order-service :5002
    python -m tools.launcher discovery    # Consul :8500 (UI), user-service :5001, order-service :5002

It waits until every process answers (no fixed sleeps), prints the URLs, and stops everything it
started on Ctrl-C or SIGTERM, and also when a start fails.
"""

import argparse
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_TEMPLATE = ROOT / "api-gateway-demo" / "api-gateway" / "templates" / "default.conf.template"
LOAD_BALANCER_TEMPLATE = ROOT / "service-discovery" / "load-balancer" / "user-service.conf.ctmpl"
CONSUL_CONFIG = ROOT / "service-discovery" / "consul" / "consul.hcl"
DEMOS = {"gateway": ROOT / "api-gateway-demo", "discovery": ROOT / "service-discovery"}

START_TIMEOUT = 60.0

# The gateway's settings, with the defaults compose gives them too (api-gateway-demo/docker-compose.yml).
# GATEWAY_SECRET also reaches the services, which believe X-Client-Id only with it.
GATEWAY_SETTINGS = {
    "GATEWAY_AUTH": "off",
    "GATEWAY_SECRET": "gateway-secret-change-me",
    "GATEWAY_RATE_LIMIT": "2000r/s",
    "GATEWAY_RATE_BURST": "1000",
    "GATEWAY_CACHE_SECONDS": "5",
    # dynamic: names re-resolved every GATEWAY_RESOLVE_VALID seconds (follows moving instances);
    # once: resolved when nginx starts, with upstream keepalive (goes stale; see the README).
    "GATEWAY_RESOLVE": "dynamic",
    "GATEWAY_RESOLVE_VALID": "5",
    "GATEWAY_READ_TIMEOUT": "10",
}


class StartError(RuntimeError):
    """A process did not come up; the message carries the end of its log."""


@dataclass
class Ports:
    """The doc's ports by default. Consul's other ports keep their usual distance from HTTP's."""

    gateway: int = 80
    user: int = 5001
    order: int = 5002
    consul: int = 8500
    load_balancer: int = 5003  # server-side discovery only

    @property
    def consul_dns(self):
        return self.consul + 100

    @property
    def names(self):
        """The gateway's DNS with namespaces (dnsmasq; compose has Docker's DNS): 5053 by default."""
        return self.user + 52

    def consul_flags(self):
        c = self.consul
        return [
            f"-http-port={c}",
            f"-dns-port={c + 100}",
            f"-server-port={c - 200}",
            f"-serf-lan-port={c - 199}",
            f"-serf-wan-port={c - 198}",
            f"-grpc-port={c + 2}",
            f"-grpc-tls-port={c + 3}",
        ]


def render_template(text, values):
    """Fill ${NAME} and $NAME for the given names only, as envsubst does in the nginx image."""

    def substitute(match):
        name = match.group(1) or match.group(2)
        return str(values[name]) if name in values else match.group(0)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", substitute, text)


def built_binary(name):
    """$<NAME>_BIN, else the cached build of tools/build-<name>.sh (it builds once, then answers fast)."""
    override = os.getenv(name.upper().replace("-", "_") + "_BIN")
    if override:
        return override
    script = ROOT / "tools" / f"build-{name}.sh"
    result = subprocess.run(["bash", str(script)], check=True, stdout=subprocess.PIPE, text=True)
    return result.stdout.strip().splitlines()[-1]


def consul_binary():
    return built_binary("consul")


def system_binary(name, package):
    """A program Debian installs under /usr/sbin (which a non-root PATH may not list)."""
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}",) if os.path.exists(p)), None)
    if not found:
        raise StartError(f"{name} not found: install it (apt-get install {package}) or run `make local-deps`")
    return found


def dnsmasq_binary():
    return system_binary("dnsmasq", "dnsmasq-base")


def nginx_binary():
    return system_binary("nginx", "nginx")


def http_ok(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300, response.read()
    except (urllib.error.URLError, OSError):
        return False, b""


@dataclass
class Process:
    """One started program: its command, log file and the check that says it is up."""

    name: str
    argv: list
    log_path: Path
    env: dict = field(default_factory=dict)
    cwd: Path = ROOT
    ready: object = None  # a callable returning True once the process answers
    popen: subprocess.Popen = None
    # A process it starts in a group of its own (consul-template's nginx) leaves its pid here.
    child_pidfile: Path = None
    namespace: object = None  # a tools.netns.Namespace when it runs at an address of its own
    on_stop: object = None  # called once it has stopped (removes its namespace)

    @property
    def address(self):
        """Where it answers: its namespace's address, or loopback."""
        return self.namespace.address if self.namespace else "127.0.0.1"

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        # A session of its own: a signal for the launcher does not reach it, we stop it ourselves.
        self.popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    @property
    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise StartError(f"{self.name} exited with {self.popen.returncode}\n{self.log_tail()}")
            if self.ready is None or self.ready():
                return
            time.sleep(0.1)  # poll interval of a readiness wait, bounded by the deadline
        raise StartError(f"{self.name} not ready after {timeout:.0f}s\n{self.log_tail()}")

    def signal(self, signum):
        if self.running:
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout=20.0):
        """SIGTERM to the main process, as `docker stop` does to PID 1, so it shuts down in its
        own order (gunicorn: deregister, stop accepting, drain); then SIGKILL what is left."""
        if self.popen is None:
            return None
        if self.running:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        try:  # workers the master left behind, if any
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._stop_child_group()
        if self.on_stop:
            self.on_stop()
        return self.popen.returncode

    def _stop_child_group(self):
        try:
            pid = int(self.child_pidfile.read_text())
            os.killpg(pid, signal.SIGKILL)
        except (AttributeError, OSError, ValueError):
            pass  # no such file or process: nothing was left behind

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Demo:
    """The processes of one demo, started in order and stopped in reverse order.

    Use as a context manager (tests) or through main() (make gateway-demo / discovery-demo).
    """

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
        if demo not in DEMOS:
            raise ValueError(f"unknown demo {demo!r}; choose from {', '.join(DEMOS)}")
        self.demo = demo
        self.ports = ports or Ports()
        self.workdir = Path(workdir or ROOT / ".run" / demo).resolve()
        self.workers = workers
        self.quiet = quiet
        self.instances = {"user-service": 1, "order-service": 1, **(instances or {})}
        self.service_env = {k: str(v) for k, v in (service_env or {}).items()}
        # For controlled experiments (the benchmark's no-keepalive gateway): edits the rendered config.
        self.gateway_conf_edit = gateway_conf_edit or (lambda text: text)
        # A tools.netns.Network: each user-service instance then runs in a network namespace of
        # its own, at its own address. Without one, instances share loopback on ports +100.
        self.network = network
        if demo == "gateway" and not network and self.instances["user-service"] > 1:
            raise ValueError("several instances behind the gateway need addresses of their own (--netns)")
        self.processes = {}
        self._service_env = {}

    # URLs a client uses.
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
    def discovery(self):
        """The discovery flavour order-service uses: client, dns or server (DISCOVERY)."""
        return self.service_env.get("DISCOVERY") or os.getenv("DISCOVERY", "client")

    @property
    def consul_url(self):
        return f"http://127.0.0.1:{self.ports.consul}"

    @property
    def entry_urls(self):
        """Where the doc's curl commands go: the gateway, or the services themselves."""
        if self.demo == "gateway":
            return {"users": self.gateway_url, "orders": self.gateway_url}
        return {"users": self.user_url, "orders": self.order_url}

    # Building blocks.
    def _in_namespace(self, service):
        return self.network is not None and service == "user-service"

    def instance_ports(self, service):
        """Ports of a service's instances: the doc's port, then +100 for each further one
        (all the doc's port when each instance has an address of its own)."""
        base = self.ports.user if service == "user-service" else self.ports.order
        step = 0 if self._in_namespace(service) else 100
        return [base + step * i for i in range(self.instances.get(service, 1))]

    @staticmethod
    def service_of(name):
        """The service an instance belongs to ("user-service-2" -> "user-service"), else None."""
        return next((s for s in ("user-service", "order-service") if name == s or name.startswith(f"{s}-")), None)

    def instances_of(self, service, running=True):
        """The processes of a service's instances (by default only those still running)."""
        return [p for n, p in self.processes.items() if self.service_of(n) == service and (p.running or not running)]

    def addresses(self, service):
        """(address, port) of a service's running instances, as the registry should list them."""
        return sorted((p.address, int(p.env["PORT"])) for p in self.instances_of(service))

    def _services(self, service, env):
        """One gunicorn per instance: user-service, user-service-2, ..."""
        self._service_env[service] = env
        return [self._instance(service, i, port) for i, port in enumerate(self.instance_ports(service), start=1)]

    def _instance(self, service, number, port, name=None):
        db_name = {"user-service": "users.sqlite3", "order-service": "orders.sqlite3"}[service]
        name = name or (service if number == 1 else f"{service}-{number}")
        namespace = self.network.add() if self._in_namespace(service) else None
        address = namespace.address if namespace else "127.0.0.1"
        where = {}
        if namespace:  # reach Consul through the host's end of the bridge
            where = {
                "SERVICE_ADDRESS": address,
                "CONSUL_HTTP_ADDR": f"{self.network.gateway_address}:{self.ports.consul}",
            }
        return Process(
            name=name,
            argv=[
                *(namespace.exec_prefix() if namespace else []),
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:servicekit.gunicorn_conf",
                "app:app",
            ],
            cwd=DEMOS[self.demo] / service,
            log_path=self.workdir / "logs" / f"{name}.log",
            env={
                "PYTHONPATH": str(ROOT),
                "PORT": str(port),
                "BIND": f"{address}:{port}",
                "WEB_CONCURRENCY": str(self.workers),
                # Instances of a service share its database, as replicas share a volume.
                "FLASK_DATABASE": str(self.workdir / "data" / db_name),
                **self._service_env[service],
                **self.service_env,
                **where,
            },
            ready=lambda: http_ok(f"http://{address}:{port}/health")[0],
            namespace=namespace,
            on_stop=(lambda: self.network.remove(namespace)) if namespace else None,
        )

    def _run(self, process):
        self.processes[process.name] = process
        process.start()
        process.wait_ready()
        self._publish_names()
        return process

    def add_instance(self, service):
        """Start one more instance: at a new address with namespaces, else on the next free port
        (+100). Returns its process."""
        port = self.instance_ports(service)[0]
        if not self._in_namespace(service):
            taken = {int(p.env["PORT"]) for p in self.instances_of(service)}
            port = next(p for p in range(port, 65535, 100) if p not in taken)
        number = 1 + len(self.instances_of(service, running=False))
        return self._run(self._instance(service, number, port))

    def _nginx_dir(self, name, conf_text=None):
        """A private nginx prefix: main config, conf.d/ (our server files), temp and cache folders."""
        conf_dir = self.workdir / name
        for sub in ("conf.d", "temp", "cache"):
            (conf_dir / sub).mkdir(parents=True, exist_ok=True)
        if conf_text is not None:
            (conf_dir / "conf.d" / "default.conf").write_text(conf_text)
        # The official image's nginx.conf does this part in compose. Workers run as whoever runs
        # the launcher (as root, nginx would switch them to nobody, who cannot write the cache and
        # temp folders under a private workdir).
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        (conf_dir / "nginx.conf").write_text(
            f"""{user}worker_processes 1;
pid {conf_dir}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {conf_dir}/temp/body;
    proxy_temp_path {conf_dir}/temp/proxy;
    fastcgi_temp_path {conf_dir}/temp/fastcgi;
    uwsgi_temp_path {conf_dir}/temp/uwsgi;
    scgi_temp_path {conf_dir}/temp/scgi;
    include {conf_dir}/conf.d/*.conf;
}}
"""
        )
        return conf_dir, [nginx_binary(), "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf"), "-g", "daemon off;"]

    def _nginx(self):
        rendered = self.gateway_conf_edit(render_template(GATEWAY_TEMPLATE.read_text(), self.gateway_values()))
        _, argv = self._nginx_dir("nginx", rendered)
        if self.network:
            # nginx resolves upstream names at start through the system resolver; a private mount
            # namespace gives it our hosts file as /etc/hosts, as a container has its own.
            bind_hosts = 'mount --bind "$0" /etc/hosts && exec "$@"'
            argv = ["unshare", "--mount", "--", "sh", "-c", bind_hosts, str(self.hosts_file), *argv]
        return Process(
            name="api-gateway",
            argv=argv,
            log_path=self.workdir / "logs" / "api-gateway.log",
            ready=lambda: http_ok(f"{self.gateway_url}/health")[0],
        )

    def _load_balancer(self):
        """Server-side discovery: nginx whose upstream consul-template keeps in step with Consul."""
        conf_dir, nginx_argv = self._nginx_dir("load-balancer")
        out = conf_dir / "conf.d" / "user-service.conf"
        return Process(
            name="load-balancer",
            argv=[
                built_binary("consul-template"),
                f"-consul-addr=127.0.0.1:{self.ports.consul}",
                f"-template={LOAD_BALANCER_TEMPLATE}:{out}",
                # consul-template runs this with `sh -c` and signals the group; `exec` makes nginx
                # itself the child, so the reload SIGHUP reloads nginx instead of ending the shell.
                f"-exec=exec {shlex.join(nginx_argv)}",
                "-exec-reload-signal=SIGHUP",
                "-exec-kill-signal=SIGQUIT",
            ],
            env={"LOAD_BALANCER_PORT": str(self.ports.load_balancer)},
            log_path=self.workdir / "logs" / "load-balancer.log",
            child_pidfile=conf_dir / "nginx.pid",
            ready=lambda: http_ok(f"{self.load_balancer_url}/health")[0],
        )

    # Names, with namespaces: what Docker's DNS does in compose, dnsmasq serving a hosts file.
    @property
    def hosts_file(self):
        return self.workdir / "names" / "hosts"

    def _names(self):
        """dnsmasq answering user-service / order-service from the hosts file the launcher keeps."""
        import dns.exception  # dnspython, already a dependency (DNS-based discovery)
        import dns.message
        import dns.query

        self.hosts_file.parent.mkdir(parents=True, exist_ok=True)
        self.hosts_file.touch()

        def answers():
            try:  # any answer will do: names come as the services start
                return dns.query.udp(dns.message.make_query("order-service", "A"), "127.0.0.1", 1.0, self.ports.names)
            except (OSError, dns.exception.DNSException):
                return False

        return Process(
            name="names",
            argv=[
                dnsmasq_binary(),
                "--keep-in-foreground",
                "--log-facility=-",
                "--conf-file=/dev/null",
                "--no-resolv",  # answers only our names, asks nobody upstream
                "--no-hosts",
                f"--addn-hosts={self.hosts_file}",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                f"--port={self.ports.names}",
                "--pid-file=",
                f"--user={pwd.getpwuid(os.geteuid()).pw_name}",
            ],
            log_path=self.workdir / "logs" / "names.log",
            ready=answers,
        )

    def _publish_names(self):
        """Point each name at its running instances (in place: nginx sees the file via a bind mount)."""
        if not (self.network and self.demo == "gateway"):
            return
        lines = [f"{p.address} {s}" for s in ("user-service", "order-service") for p in self.instances_of(s)]
        with open(self.hosts_file, "r+") as hosts:
            hosts.write("".join(f"{line}\n" for line in lines))
            hosts.truncate()
        names = self.processes.get("names")
        if names and names.running:
            names.popen.send_signal(signal.SIGHUP)  # dnsmasq re-reads its hosts files

    def reload_gateway(self):
        """`nginx -s reload`: a new configuration load, so upstream names are resolved again."""
        self.processes["api-gateway"].popen.send_signal(signal.SIGHUP)

    def gateway_values(self):
        """The template's variables in local mode (compose sets the same names and defaults)."""
        settings = {**GATEWAY_SETTINGS, **{k: v for k, v in os.environ.items() if k in GATEWAY_SETTINGS}}
        settings.update({k: v for k, v in self.service_env.items() if k in GATEWAY_SETTINGS})
        named = self.network is not None  # names need the private /etc/hosts of namespace mode
        return {
            "GATEWAY_PORT": self.ports.gateway,
            "USER_SERVICE_ADDR": f"{'user-service' if named else '127.0.0.1'}:{self.ports.user}",
            "ORDER_SERVICE_ADDR": f"{'order-service' if named else '127.0.0.1'}:{self.ports.order}",
            "GATEWAY_RESOLVER": f"127.0.0.1:{self.ports.names}",
            "GATEWAY_CACHE_DIR": self.workdir / "nginx" / "cache",
            "GATEWAY_AUTH_DIR": GATEWAY_TEMPLATE.parent.parent / "auth",
            **settings,
        }

    def _consul(self):
        # With namespaces, instances reach the agent at the host's end of the bridge too.
        clients = " ".join(["127.0.0.1", *([self.network.gateway_address] if self.network else [])])
        return Process(
            name="consul",
            argv=[
                consul_binary(),
                "agent",
                "-dev",
                "-ui",
                f"-config-file={CONSUL_CONFIG}",
                f"-client={clients}",
                "-bind=127.0.0.1",
                *self.ports.consul_flags(),
            ],
            env={"CHECKPOINT_DISABLE": "1"},
            log_path=self.workdir / "logs" / "consul.log",
            ready=lambda: http_ok(f"{self.consul_url}/v1/status/leader")[1].strip(b'"\n') != b"",
        )

    def plan(self):
        """The processes of this demo, in start order."""
        if self.demo == "gateway":
            return [
                *([self._names()] if self.network else []),
                *self._services("user-service", {}),
                *self._services("order-service", {"GATEWAY_URL": self.gateway_url}),
                self._nginx(),
            ]
        consul_env = {
            "CONSUL_HTTP_ADDR": f"127.0.0.1:{self.ports.consul}",
            "CONSUL_DNS_ADDR": f"127.0.0.1:{self.ports.consul_dns}",
            "SERVICE_ADDRESS": "127.0.0.1",
            "LOAD_BALANCER_URL": self.load_balancer_url,
        }
        return [
            self._consul(),
            *self._services("user-service", consul_env),
            *([self._load_balancer()] if self.discovery == "server" else []),
            *self._services("order-service", consul_env),
        ]

    # Life cycle.
    def start(self):
        try:
            if self.network:
                self.network.create()
            for process in self.plan():
                self._run(process)
                self._say(f"  {process.name:<14} ready  (pid {process.popen.pid}, {process.address})")
            if self.demo == "discovery":
                for service in ("user-service", "order-service"):
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

    def restart(self, name):
        """Stop and start an instance. In a namespace it comes back at a new address, as a
        rescheduled container does; on loopback at the same port. In the discovery demo, returns
        once Consul lists it as passing."""
        process = self.processes[name]
        service = self.service_of(name)
        process.stop()
        if process.namespace:
            self._run(self._instance(service, 0, int(process.env["PORT"]), name=name))
        else:
            process.start()
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

    def passing(self, service):
        ok, body = http_ok(f"{self.consul_url}/v1/health/service/{service}?passing=true")
        if not ok:
            return []
        return [(e["Service"]["Address"], e["Service"]["Port"]) for e in json.loads(body)]

    def wait_passing(self, service, count, timeout=30.0):
        """Wait until Consul lists exactly `count` passing instances of `service`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.passing(service)) == count:
                return
            time.sleep(0.1)  # poll interval of a readiness wait, bounded by the deadline
        raise StartError(f"consul lists {self.passing(service)} for {service}, wanted {count} passing")

    def _say(self, text):
        if not self.quiet:
            print(text, flush=True)

    def describe(self):
        lines = [f"{self.demo} demo is up (local mode). Data and logs: {self.workdir}"]
        users = ", ".join(f"http://{a}:{p}" for a, p in self.addresses("user-service"))
        if self.demo == "gateway":
            lines += [
                f"  API gateway     {self.gateway_url}   (/users, /orders, /health)",
                f"  user-service    {users}",
                f"  order-service   {self.order_url}   (calls user-service via the gateway)",
            ]
        else:
            lines += [
                f"  Consul UI       {self.consul_url}/ui/",
                f"  user-service    {users}",
                f"  order-service   {self.order_url}   (finds user-service through Consul)",
            ]
        lines.append("Press Ctrl-C to stop.")
        return "\n".join(lines)


STATE_FILE = ROOT / ".run" / "local-demo.json"


def control_files(workdir):
    """A request to a running launcher (`restart <instance>`) and its answer."""
    return Path(workdir) / "control.request", Path(workdir) / "control.answer"


def request_restart(name, timeout=90.0):
    """Ask the running local demo's launcher to restart one instance; print what it answers."""
    state = running_demo()
    if not state:
        print("no local demo running", file=sys.stderr)
        return 1
    request, answer = control_files(state["workdir"])
    answer.unlink(missing_ok=True)
    request.write_text(name)
    os.kill(state["pid"], signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not answer.exists():
        time.sleep(0.1)  # waiting for the launcher's answer, bounded
    if not answer.exists():
        print(f"no answer from the launcher within {timeout:.0f}s", file=sys.stderr)
        return 1
    text = answer.read_text()
    print(text)
    return 0 if "restarted" in text else 1


def serve_restart(demo):
    """The launcher's side of request_restart()."""
    request, answer = control_files(demo.workdir)
    name = request.read_text().strip()
    request.unlink(missing_ok=True)
    if name not in demo.processes or not demo.service_of(name):
        text = f"no instance {name!r}; instances: {', '.join(n for n in demo.processes if demo.service_of(n))}"
    else:
        before = demo.processes[name]
        was = f"{before.address}:{before.env['PORT']}"
        after = demo.restart(name)
        text = f"{name} restarted: {was} -> {after.address}:{after.env['PORT']}"
    answer.write_text(text)


def alive(pid):
    """True while pid runs; a launcher we started ourselves (detach) is reaped, not left a zombie."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def running_demo():
    """The detached local demo recorded in .run/, if its launcher is still alive."""
    try:
        state = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None
    return state if alive(state.get("pid", 0)) else None


def stop_running_demo(timeout=60.0):
    """Stop a detached local demo (its launcher stops its processes). True if one was running."""
    state = running_demo()
    if not state:
        return False
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(state["pid"]):
            print(f"stopped the local {state['demo']} demo")
            return True
        time.sleep(0.1)  # waiting for the launcher to finish its cleanup, bounded
    raise StartError(f"launcher pid {state['pid']} did not stop within {timeout:.0f}s")


def detach(argv, demo):
    """Start this launcher in the background, return once the demo is up (or failed)."""
    demo.workdir.mkdir(parents=True, exist_ok=True)
    log_path = demo.workdir / "launcher.log"
    ready_path = demo.workdir / "launcher.ready"
    ready_path.unlink(missing_ok=True)
    with open(log_path, "wb") as log:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.launcher",
                *[a for a in argv if a != "--detach"],
                "--ready-file",
                str(ready_path),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT * 3
    while time.monotonic() < deadline and child.poll() is None and not ready_path.exists():
        time.sleep(0.1)  # waiting for the background launcher's ready signal, bounded
    if ready_path.exists():
        print(ready_path.read_text().replace("Press Ctrl-C to stop.", "Stop it with: make down"))
        return 0
    if child.poll() is None:
        child.terminate()
    print(log_path.read_text(errors="replace"), file=sys.stderr)
    return 1


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "demo",
        choices=[*sorted(DEMOS), "stop", "restart"],
        help="`stop` ends a detached demo; `restart <instance>` restarts one of its instances",
    )
    parser.add_argument("instance", nargs="?", help="for restart: user-service, user-service-2, ...")
    parser.add_argument("--gateway-port", type=int, default=int(os.getenv("GATEWAY_PORT", 80)))
    parser.add_argument("--user-port", type=int, default=int(os.getenv("USER_PORT", 5001)))
    parser.add_argument("--order-port", type=int, default=int(os.getenv("ORDER_PORT", 5002)))
    parser.add_argument("--consul-port", type=int, default=int(os.getenv("CONSUL_PORT", 8500)))
    parser.add_argument("--workdir", help="data, logs and rendered configs (default: .run/<demo>)")
    parser.add_argument(
        "--instances", type=int, default=1, help="user-service instances (ports 5001, 5101, ... or one IP each)"
    )
    parser.add_argument(
        "--netns",
        action="store_true",
        help="each user-service instance in a network namespace at its own IP (10.213.0.0/24; needs root)",
    )
    parser.add_argument("--detach", action="store_true", help="run in the background; stop with `stop`")
    parser.add_argument("--ready-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.demo == "stop":
        if not stop_running_demo():
            print("no local demo running")
        return 0
    if args.demo == "restart":
        return request_restart(args.instance or "user-service")

    ports = Ports(gateway=args.gateway_port, user=args.user_port, order=args.order_port, consul=args.consul_port)
    network = None
    if args.netns:
        from tools.netns import Network

        network = Network()
    demo = Demo(
        args.demo,
        workdir=args.workdir,
        ports=ports,
        quiet=False,
        instances={"user-service": args.instances},
        network=network,
    )
    if args.detach:
        return detach(argv, demo)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    restart_requested = []
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGUSR1, lambda *_: restart_requested.append(True))
    try:
        demo.start()
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(json.dumps({"pid": os.getpid(), "demo": args.demo, "workdir": str(demo.workdir)}))
        print(demo.describe(), flush=True)
        if args.ready_file:
            Path(args.ready_file).write_text(demo.describe())
        while True:
            time.sleep(0.5)  # supervise: notice a request, or a process that dies
            if restart_requested:
                restart_requested.clear()
                serve_restart(demo)
            dead = [p for p in demo.processes.values() if not p.running]
            if demo.network and dead and all(p.namespace for p in dead):
                for process in dead:  # as a scheduler would: back at a new address
                    again = demo.restart(process.name)
                    print(f"{process.name} exited; restarted at {again.address}", flush=True)
            elif dead:
                break
        dead = [p.name for p in demo.processes.values() if not p.running]
        print(f"stopping: {', '.join(dead)} exited; logs in {demo.workdir / 'logs'}", file=sys.stderr)
        return 1
    except StartError as exc:
        print(f"start failed, stopped everything: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        demo.stop()
        if running_demo() and running_demo()["pid"] == os.getpid():
            STATE_FILE.unlink(missing_ok=True)
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
