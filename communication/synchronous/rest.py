"""The lookup over REST: GET {base_url}/users/<id>, the doc's call."""

import requests

from .user_client import Retryable, UserServiceUnavailable, setting

# Whether a user exists is not a question for the gateway's cache.
FRESH = {"Cache-Control": "no-cache"}


class RestTransport:
    def __init__(self):
        self.timeout = (setting("USER_SERVICE_CONNECT_TIMEOUT", 1.0), setting("USER_SERVICE_READ_TIMEOUT", 3.0))
        # One session per process: connections to user-service (or the gateway) are reused.
        self.session = requests.Session()
        # No proxy or .netrc from the environment: services call each other directly, and looking
        # them up walked os.environ twice per call (~0.6 ms of an order, profiled in make bench).
        self.session.trust_env = False
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16))

    def get_user(self, base_url, user_id, headers):
        try:
            response = self.session.get(
                f"{base_url}/users/{user_id}", headers={**headers, **FRESH}, timeout=self.timeout
            )
        except requests.ConnectTimeout:
            raise Retryable(f"user-service at {base_url} did not accept a connection", base_url) from None
        except requests.Timeout:
            raise UserServiceUnavailable(f"user-service did not answer within {self.timeout[1]}s") from None
        except requests.ConnectionError:
            raise Retryable(f"user-service unreachable at {base_url}", base_url) from None
        except requests.exceptions.ChunkedEncodingError:
            # The instance died while answering (SIGKILL mid-response): a GET, safe to ask another.
            raise Retryable(f"user-service at {base_url} broke off its answer", base_url) from None
        except requests.RequestException as exc:
            raise UserServiceUnavailable(f"user-service call failed: {type(exc).__name__}") from None
        if response.status_code == 200:
            return response.json()
        if response.status_code == 404:
            return None
        if response.status_code in (502, 503, 504):
            raise Retryable(f"user-service answered {response.status_code}", base_url)
        raise UserServiceUnavailable(f"user-service answered {response.status_code}")

    def reachable(self, base_url):
        try:
            response = self.session.get(f"{base_url}/health/live", timeout=(1, 1))
        except requests.RequestException as exc:
            return f"unreachable: {exc}"
        return None if response.status_code == 200 else f"answered {response.status_code}"
