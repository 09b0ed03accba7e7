"""The gateway's REST-to-gRPC translation (USER_API=grpc): gunicorn with its app.py, as in compose."""

import sys

from ..process import ROOT, Process, answers_as


def translator(demo):
    port = demo.ports.rest_to_grpc
    # Its calls go through the gateway's gRPC port, as order-service's do: whichever instances run.
    users_grpc = f"127.0.0.1:{demo.ports.gateway_grpc}"
    return Process(
        name="rest-to-grpc",
        argv=[sys.executable, "-m", "gunicorn", "-c", "python:servicekit.gunicorn_conf", "app:app"],
        cwd=ROOT / "api-gateway-demo" / "rest-to-grpc",
        log_path=demo.workdir / "logs" / "rest-to-grpc.log",
        env={
            "PYTHONPATH": str(ROOT),
            "PORT": str(port),
            "BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": "1",
            "USERS_GRPC_TARGET": users_grpc,
            **demo.secrets,
            **demo.service_env,
        },
        ready=lambda: answers_as(f"http://127.0.0.1:{port}/health", "rest-to-grpc"),
        port=port,
    )
