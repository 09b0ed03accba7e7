"""A circuit breaker for order-service's calls to user-service.

Why not a library: pybreaker holds its lock for the whole wrapped call, so one slow call blocks
every other thread of the worker; circuitbreaker keeps its counters without a lock and lets every
caller through when half-open. This one locks only its state changes and, half-open, lets a single
probe through while the others keep failing fast.
"""

import threading
import time

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitOpen(Exception):
    """The breaker is open: fail fast instead of calling a service that keeps failing."""


class CircuitBreaker:
    def __init__(self, failure_threshold=5, reset_timeout=5.0, clock=time.monotonic):
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_running = False

    @property
    def state(self):
        with self._lock:
            if self._state == OPEN and self.clock() - self._opened_at >= self.reset_timeout:
                return HALF_OPEN
            return self._state

    def call(self, func, *args, failure=Exception, **kwargs):
        """Run func unless open; exceptions of type `failure` count against the service."""
        self._before()
        try:
            result = func(*args, **kwargs)
        except failure:
            self._record(ok=False)
            raise
        except BaseException:
            self._release_probe()
            raise
        self._record(ok=True)
        return result

    def _before(self):
        with self._lock:
            if self._state == CLOSED:
                return
            waited = self.clock() - self._opened_at
            if waited < self.reset_timeout:
                raise CircuitOpen(f"circuit open, retrying in {self.reset_timeout - waited:.1f}s")
            if self._probe_running:
                raise CircuitOpen("circuit half-open, a probe call is under way")
            self._probe_running = True  # half-open: this call is the probe

    def _record(self, ok):
        with self._lock:
            self._probe_running = False
            if ok:
                self._state, self._failures = CLOSED, 0
                return
            self._failures += 1
            if self._state != CLOSED or self._failures >= self.failure_threshold:
                self._state, self._opened_at = OPEN, self.clock()

    def _release_probe(self):
        with self._lock:
            self._probe_running = False
