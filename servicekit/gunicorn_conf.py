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


def _hooks(server):
    return hooks(server.app.wsgi())


def when_ready(server):
    """Listening: start the companions (user-service's gRPC server), then announce it all."""
    for companion in _hooks(server).companions:
        companion.start()
    for registration in _hooks(server).registrations:
        registration.register()
        registration.keep_registered()


def on_starting(server):
    stop = server.handle_term

    def deregister_then_stop():
        registrations = _hooks(server).registrations
        for registration in registrations:
            registration.deregister()
        if registrations:
            # Callers that picked us a moment ago still reach a listening socket.
            time.sleep(float(os.getenv("DRAIN_SECONDS", "0.5")))
        stop()

    server.handle_term = deregister_then_stop


def post_worker_init(worker):
    """Per-worker start-up the app asks for (order-service: start watching Consul right away)."""
    for start in hooks(worker.wsgi).on_worker_start:
        start()


def on_exit(server):
    for registration in _hooks(server).registrations:
        registration.deregister()
    for companion in _hooks(server).companions:
        companion.stop()
