"""order-service's one call to user-service: timeouts, safe retries, a circuit breaker.

*Where* to call is the locator's job (gateway or Consul); *which protocol*, the transport's: REST
(rest.py, the doc's) or gRPC (grpc_transport.py, USER_API=grpc). This module decides *how*, the
same for both: a retried lookup goes to another instance, and both share one breaker.
"""

import logging
import os
import random
import time

from discovery.locators import NoInstanceAvailable

from .breaker import CircuitBreaker, CircuitOpen

log = logging.getLogger("user_client")


class UserServiceUnavailable(Exception):
    """user-service could not answer: no instance, refused, timed out, 5xx, or the circuit is open."""


class Retryable(Exception):
    """The lookup failed where another instance may well answer (refused, broken off, 502/503/504,
    UNAVAILABLE); `base_url` is the instance that failed."""

    def __init__(self, message, base_url):
        super().__init__(message)
        self.base_url = base_url


def setting(name, default):
    return float(os.getenv(name, default))


def timeouts():
    """(connect, read) for a lookup, in seconds, whatever the transport: a connection not made in
    time is worth another instance; an answer not come in time is not (a slow service needs no
    more load)."""
    return setting("USER_SERVICE_CONNECT_TIMEOUT", 1.0), setting("USER_SERVICE_READ_TIMEOUT", 3.0)


class UserClient:
    def __init__(self, locator, transport=None):
        from .rest import RestTransport

        self.locator = locator
        self.transport = transport or RestTransport()
        # A lookup is idempotent, so a refused connection or a 502/503/504 (UNAVAILABLE) is
        # retried (on the next instance, where there are several), a bounded number of times with
        # jittered backoff. A timeout is not retried: a slow service does not need more load.
        self.retries = int(setting("USER_SERVICE_RETRIES", 2))
        self.backoff = setting("USER_SERVICE_RETRY_BACKOFF", 0.05)
        self.breaker = CircuitBreaker(
            failure_threshold=int(setting("BREAKER_FAILURES", 5)), reset_timeout=setting("BREAKER_RESET_SECONDS", 5)
        )

    def get_user(self, user_id, headers=None):
        """The user as a dict, or None if user-service says there is no such user.

        `headers` travel with the call (the request ID, the caller's token); the caller decides
        what to pass on, this client knows nothing of the request it serves."""
        try:
            return self.breaker.call(self._get_with_retries, user_id, headers or {}, failure=UserServiceUnavailable)
        except CircuitOpen as exc:
            raise UserServiceUnavailable(str(exc)) from None

    def _get_with_retries(self, user_id, headers):
        failed = set()  # a retry goes to another instance where the locator has one
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
            try:
                return self.transport.get_user(self._pick(avoid=failed), user_id, headers)
            except Retryable as exc:
                log.warning("user lookup failed", extra={"error": str(exc), "attempt": attempt + 1})
                failed.add(exc.base_url)
                last = exc
        raise UserServiceUnavailable(f"{last} (after {self.retries + 1} attempts)")

    def _pick(self, avoid=()):
        try:
            base_url = self.locator.base_url()
            for _ in range(3):  # a few picks: a rotating locator soon offers another instance
                if base_url not in avoid:
                    break
                base_url = self.locator.base_url()
        except NoInstanceAvailable as exc:
            raise UserServiceUnavailable(str(exc)) from None
        return base_url

    def health(self):
        return {"user_service_circuit": self.breaker.state}

    def reachable(self):
        """None if user-service answers its health check (or the gateway, where order-service
        reaches it through one), else what is wrong."""
        try:
            return self.transport.reachable(self.locator.base_url())
        except NoInstanceAvailable as exc:
            return f"unreachable: {exc}"
