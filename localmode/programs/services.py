"""A service instance: gunicorn running the demo folder's app.py, as its container does."""

import sys

from ..process import ROOT, Process, accepts, answers_as

# In start order (the callers after what they call), with the Ports field of each one's port.
SERVICES = ("user-service", "notification-service", "order-service")
PORT_FIELDS = {"user-service": "user", "notification-service": "notification", "order-service": "order"}
DATABASES = {
    "user-service": "users.sqlite3",
    "notification-service": "notifications.sqlite3",
    "order-service": "orders.sqlite3",
}


def service_of(name):
    """The service an instance belongs to ("user-service-2" -> "user-service"), else None."""
    return next((s for s in SERVICES if name == s or name.startswith(f"{s}-")), None)


def instance(demo, service, port, name, host=None):
    """One gunicorn for `service` on `port`; in its own network namespace when the demo gives
    the service addresses of their own, or on `host`, a namespace it shares with the other
    services of a cluster's app host (and their Consul agent, which settings_for names)."""
    namespace = host or (demo.network.add() if demo.in_namespace(service) else None)
    address = namespace.address if namespace else "127.0.0.1"
    where = {"SERVICE_ADDRESS": address} if host else {}
    if namespace and not host:  # reach Consul through the host's end of the bridge
        where = {
            "SERVICE_ADDRESS": address,
            "CONSUL_HTTP_ADDR": f"{demo.network.gateway_address}:{demo.ports.consul}",
        }
    grpc_port = demo.ports.user_grpc + port - demo.ports.user if service == "user-service" else None
    # With USER_API=grpc, callers use its gRPC API, which gunicorn starts once its workers are up.
    serves_grpc = grpc_port is not None and demo.user_api == "grpc"

    def ready():
        return answers_as(f"http://{address}:{port}/health", service) and (
            not serves_grpc or accepts(address, grpc_port)
        )

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
        cwd=demo.folder / service,
        log_path=demo.workdir / "logs" / f"{name}.log",
        env={
            "PYTHONPATH": str(ROOT),
            "PORT": str(port),
            "BIND": f"{address}:{port}",
            "WEB_CONCURRENCY": str(demo.workers),
            # Instances of a service share its database, as replicas share a volume.
            "FLASK_DATABASE": str(demo.workdir / "data" / DATABASES[service]),
            # user-service's gRPC API (USER_API=grpc) beside its REST one: the same step per instance.
            "GRPC_PORT": str(grpc_port or ""),
            **demo.secrets,
            **demo.settings_for(service),
            **demo.service_env,
            **where,
        },
        ready=ready,
        port=port,
        namespace=namespace,
        on_stop=(lambda: demo.network.remove(namespace)) if namespace and not host else None,
    )
