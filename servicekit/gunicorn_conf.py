"""gunicorn settings for every service: `gunicorn -c python:servicekit.gunicorn_conf app:app`.

The master registers a service with Consul once its socket listens, and on SIGTERM
deregisters *first*, then stops accepting and lets workers finish their requests.
"""

import json
import os
import time

from gunicorn import util

from servicekit.companions import graceful_seconds
from servicekit.hooks import hooks

bind = os.getenv("BIND", f"0.0.0.0:{os.getenv('PORT', '5000')}")
workers = int(os.getenv("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.getenv("THREADS", "4"))
timeout = 30
graceful_timeout = int(graceful_seconds())
# Longer than nginx's upstream keepalive_timeout, so nginx closes idle connections first.
keepalive = 75
# The master loads the app so it can register the instance; workers inherit it.
preload_app = True
# Several gunicorns on one machine would otherwise share ~/.gunicorn/gunicorn.ctl.
control_socket_disable = True
accesslog = None


def _json_error(sock, status_int, reason, mesg):
    """What gunicorn answers itself (a request it cannot parse: a bad request line, too long a
    URL, too many headers, a broken chunk), in JSON like every other error of the services
    rather than gunicorn's HTML page; the same status and Connection: close."""
    body = (json.dumps({"error": f"{reason.lower()}: {mesg}" if mesg else reason.lower()}) + "\n").encode()
    head = f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
    util.write_nonblock(sock, head.encode("latin-1") + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


util.write_error = _json_error  # gunicorn's workers call util.write_error(...) for these


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
        for companion in _hooks(server).companions:
            companion.begin_stop()  # within the same grace as the workers (on_exit waits for it)
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
