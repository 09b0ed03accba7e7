"""nginx in local mode: a private prefix per nginx, and the gateway demo's API gateway."""

import os
import pwd
import re
from pathlib import Path

from ..process import ROOT, Process, answers_as
from .binaries import system_binary

GATEWAY_DIR = ROOT / "api-gateway-demo" / "api-gateway"
GATEWAY_TEMPLATE = GATEWAY_DIR / "templates" / "default.conf.template"
GATEWAY_COMPOSE = ROOT / "api-gateway-demo" / "docker-compose.yml"
MAIN_CONFIG = Path(__file__).with_name("nginx.conf.template")
RESOLVE_MODES = ("follow", "once", "dynamic")  # GATEWAY_RESOLVE: see the template's head


def render_template(text, values):
    """Fill ${NAME} and $NAME for the given names only, as envsubst does in the nginx image."""

    def substitute(match):
        name = match.group(1) or match.group(2)
        return str(values[name]) if name in values else match.group(0)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", substitute, text)


def gateway_defaults():
    """The gateway's settings and their defaults, read from the compose file that sets them
    (`GATEWAY_AUTH: ${GATEWAY_AUTH:-off}`): one place for each default, both modes."""
    pairs = re.findall(r"^\s+(GATEWAY_\w+): \$\{\1:-([^}]*)\}", GATEWAY_COMPOSE.read_text(), re.M)
    return dict(pairs)


def nginx_binary():
    return system_binary("nginx", "nginx")


def prefix(workdir, name, conf_text=None):
    """A private nginx prefix: main config, conf.d/ (our server files), temp and cache folders.
    Returns (its folder, the command that runs nginx in the foreground with it)."""
    conf_dir = workdir / name
    for sub in ("conf.d", "temp", "cache"):
        (conf_dir / sub).mkdir(parents=True, exist_ok=True)
    if conf_text is not None:
        (conf_dir / "conf.d" / "default.conf").write_text(conf_text)
    # As root, nginx would switch its workers to nobody, who cannot write the cache and temp
    # folders under a private workdir: they run as whoever runs the launcher.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    main = render_template(MAIN_CONFIG.read_text(), {"USER_DIRECTIVE": user, "PREFIX": conf_dir})
    (conf_dir / "nginx.conf").write_text(main)
    return conf_dir, [nginx_binary(), "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf"), "-g", "daemon off;"]


def gateway_values(demo):
    """The template's variables in local mode: compose's defaults, then the user's environment,
    then the demo's own settings (tests, bench)."""
    defaults = gateway_defaults()
    settings = {**defaults, "GATEWAY_SECRET": demo.secrets["GATEWAY_SECRET"]}
    settings.update({k: v for k, v in os.environ.items() if k in defaults})
    settings.update({k: v for k, v in demo.service_env.items() if k in defaults})
    if settings["GATEWAY_RESOLVE"] not in RESOLVE_MODES:
        raise ValueError(f"GATEWAY_RESOLVE must be {', '.join(RESOLVE_MODES)}, not {settings['GATEWAY_RESOLVE']!r}")
    named = demo.network is not None  # names need the private /etc/hosts of namespace mode
    return {
        # `listen` on loopback only: on a host, unlike in a container, a bare port is every
        # interface, and the demo (auth off by default) would serve the whole network.
        "GATEWAY_PORT": f"127.0.0.1:{demo.ports.gateway}",
        "USER_SERVICE_ADDR": f"{'user-service' if named else '127.0.0.1'}:{demo.ports.user}",
        "ORDER_SERVICE_ADDR": f"{'order-service' if named else '127.0.0.1'}:{demo.ports.order}",
        "NOTIFICATION_SERVICE_ADDR": f"{'notification-service' if named else '127.0.0.1'}:{demo.ports.notification}",
        "USER_SERVICE_GRPC_ADDR": f"{'user-service' if named else '127.0.0.1'}:{demo.ports.user_grpc}",
        "GATEWAY_GRPC_PORT": f"127.0.0.1:{demo.ports.gateway_grpc}",
        "REST_TO_GRPC_ADDR": f"127.0.0.1:{demo.ports.rest_to_grpc}",
        "GATEWAY_RESOLVER": f"127.0.0.1:{demo.ports.names}",
        "GATEWAY_CACHE_DIR": demo.workdir / "nginx" / "cache",
        "GATEWAY_AUTH_DIR": GATEWAY_DIR / "auth",
        # Debian's nginx 1.22 has no `resolve` on upstream servers: with GATEWAY_RESOLVE=follow
        # the launcher reloads it when an address changes instead (follows_by_reload).
        "GATEWAY_UPSTREAM_RESOLVE": "",
        **settings,
    }


def follows_by_reload(demo):
    """GATEWAY_RESOLVE=follow in local mode: nginx reloaded (names resolved again, connections
    kept between changes) whenever the launcher moves, adds or loses an instance."""
    return gateway_values(demo)["GATEWAY_RESOLVE"] == "follow"


def gateway(demo):
    """The API gateway: the demo's template, rendered as the nginx image renders it in compose."""
    rendered = demo.gateway_conf_edit(render_template(GATEWAY_TEMPLATE.read_text(), gateway_values(demo)))
    _, argv = prefix(demo.workdir, "nginx", rendered)
    if demo.network:
        # nginx resolves upstream names at start through the system resolver; a private mount
        # namespace gives it our hosts file as /etc/hosts, as a container has its own.
        bind_hosts = 'mount --bind "$0" /etc/hosts && exec "$@"'
        argv = ["unshare", "--mount", "--", "sh", "-c", bind_hosts, str(demo.hosts_file), *argv]
    return Process(
        name="api-gateway",
        argv=argv,
        log_path=demo.workdir / "logs" / "api-gateway.log",
        ready=lambda: answers_as(f"{demo.gateway_url}/health", "api-gateway"),
        port=demo.ports.gateway,
    )
