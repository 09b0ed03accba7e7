"""Server-side discovery: nginx whose upstream consul-template keeps in step with Consul."""

import shlex

from ..process import ROOT, Process, answers_as
from . import nginx
from .binaries import built_binary

TEMPLATE = ROOT / "service-discovery" / "load-balancer" / "user-service.conf.ctmpl"
SETTINGS = TEMPLATE.with_name("consul-template.hcl")  # signals and retries, as in compose


def consul_template(demo):
    conf_dir, nginx_argv = nginx.prefix(demo.workdir, "load-balancer")
    out = conf_dir / "conf.d" / "user-service.conf"
    return Process(
        name="load-balancer",
        argv=[
            built_binary("consul-template"),
            f"-config={SETTINGS}",
            f"-consul-addr=127.0.0.1:{demo.ports.consul}",
            f"-template={TEMPLATE}:{out}",
            # consul-template runs this with `sh -c` and signals the group; `exec` makes nginx
            # itself the child, so the reload SIGHUP reloads nginx instead of ending the shell.
            f"-exec=exec {shlex.join(nginx_argv)}",
        ],
        env={"LOAD_BALANCER_PORT": f"127.0.0.1:{demo.ports.load_balancer}"},  # `listen`: loopback only
        log_path=demo.workdir / "logs" / "load-balancer.log",
        child_pidfile=conf_dir / "nginx.pid",
        ready=lambda: answers_as(f"{demo.load_balancer_url}/health", "load-balancer"),
        port=demo.ports.load_balancer,
    )
