"""gunicorn settings for every service: `gunicorn -c python:servicekit.gunicorn_conf app:app`.

The master registers a service with Consul once its socket listens, and on SIGTERM
deregisters *first*, then stops accepting and lets workers finish their requests.
"""

import os
import time

from servicekit.hooks import hooks

bind = os.getenv("BIND", f"0.0.0.0:{os.getenv('PORT', '5000')}")
workers = int(os.getenv("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.getenv("THREADS", "4"))
timeout = 30
graceful_timeout = int(os.getenv("GRACEFUL_TIMEOUT", "15"))
# Longer than nginx's upstream keepalive_timeout, so nginx closes idle connections first.
keepalive = 75
# The master loads the app so it can register the instance; workers inherit it.
preload_app = True
# Several gunicorns on one machine would otherwise share ~/.gunicorn/gunicorn.ctl.
control_socket_disable = True
accesslog = None


def _registration(server):
    return hooks(server.app.wsgi()).registration


def when_ready(server):
    registration = _registration(server)
    if registration:
        registration.register()
        registration.keep_registered()


def on_starting(server):
    stop = server.handle_term

    def deregister_then_stop():
        registration = _registration(server)
        if registration:
            registration.deregister()
            # Callers that picked us a moment ago still reach a listening socket.
            time.sleep(float(os.getenv("DRAIN_SECONDS", "0.5")))
        stop()

    server.handle_term = deregister_then_stop


def post_worker_init(worker):
    """Per-worker start-up the app asks for (order-service: start watching Consul right away)."""
    for start in hooks(worker.wsgi).on_worker_start:
        start()


def on_exit(server):
    registration = _registration(server)
    if registration:
        registration.deregister()
