"""The lookup over REST: GET {base_url}/users/<id>, the doc's call.

On urllib3's connection pool directly: requests, which wraps it, built a session's worth of
objects per call (a prepared request, merged settings, hooks, a cookie jar): a sixth of an
order's time in the profile (make bench), for nothing a service-to-service GET needs.
"""

import json

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ProtocolError, ReadTimeoutError

from .user_client import Retryable, UserServiceUnavailable, timeouts

# Whether a user exists is not a question for the gateway's cache.
FRESH = {"Cache-Control": "no-cache"}


class RestTransport:
    def __init__(self):
        connect, read = timeouts()
        self.timeout = urllib3.Timeout(connect=connect, read=read)
        # One pool per process, connections to user-service (or the gateway) kept; no retries
        # here (UserClient decides those), no redirects to follow. A pool per address: room for
        # the ten instances the scaling bench runs without dropping one's connections.
        self.pool = urllib3.PoolManager(num_pools=32, maxsize=16, retries=False, timeout=self.timeout)

    def get_user(self, base_url, user_id, headers):
        try:
            response = self.pool.request(
                "GET", f"{base_url}/users/{user_id}", headers={**headers, **FRESH}, redirect=False
            )
        except NewConnectionError:  # refused (urllib3's NewConnectionError is a ConnectTimeoutError too)
            raise Retryable(f"user-service unreachable at {base_url}", base_url) from None
        except ConnectTimeoutError:
            raise Retryable(f"user-service at {base_url} did not accept a connection", base_url) from None
        except ReadTimeoutError:
            raise UserServiceUnavailable(f"user-service did not answer within {self.timeout.read_timeout}s") from None
        except ProtocolError:
            # Refused or broken off (an instance SIGKILLed mid-answer): a GET, safe to ask another.
            raise Retryable(f"user-service at {base_url} broke off its answer", base_url) from None
        except HTTPError as exc:
            raise UserServiceUnavailable(f"user-service call failed: {type(exc).__name__}") from None
        if response.status == 200:
            return json.loads(response.data)
        if response.status == 404:
            return None
        if response.status in (502, 503, 504):
            raise Retryable(f"user-service answered {response.status}", base_url)
        raise UserServiceUnavailable(f"user-service answered {response.status}")

    def reachable(self, base_url):
        try:
            quick = urllib3.Timeout(connect=1, read=1)
            # /health: user-service's own (its database), or the gateway's, which answers it itself
            # (nginx routes no /health/live; the gateway is order-service's one hop there).
            response = self.pool.request("GET", f"{base_url}/health", timeout=quick, redirect=False)
        except HTTPError as exc:
            return f"unreachable: {exc}"
        return None if response.status == 200 else f"answered {response.status}"
