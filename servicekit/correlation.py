"""Correlation IDs: one X-Request-ID per request, kept across every hop and in every log line.

A context variable rather than Flask's `g`, so that code outside a request (a message consumer,
a background thread) logs under the ID it is working for too.
"""

import contextlib
import contextvars
import re
import uuid

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming ID is passed on only if it is short and harmless in logs and headers.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_current = contextvars.ContextVar("request_id", default=None)


def safe_or_new(incoming):
    """The caller's ID if it looks sane, else a new one."""
    return incoming if incoming and _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def current_request_id():
    return _current.get()


def set_request_id(request_id):
    """Bind an ID to this context; returns the token to reset it with."""
    return _current.set(request_id)


def reset_request_id(token):
    _current.reset(token)


@contextlib.contextmanager
def request_id_bound(request_id):
    token = set_request_id(request_id)
    try:
        yield request_id
    finally:
        reset_request_id(token)
