"""The circuit breaker's state machine, on a clock the test moves."""

import threading

import pytest

from communication.synchronous.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fail():
    raise ConnectionError("down")


def fail_times(breaker, n):
    for _ in range(n):
        with pytest.raises(ConnectionError):
            breaker.call(fail, failure=ConnectionError)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def breaker(clock):
    return CircuitBreaker(failure_threshold=3, reset_timeout=5, clock=clock)


def test_opens_after_threshold_and_fails_fast(breaker):
    fail_times(breaker, 3)
    assert breaker.state == OPEN
    calls = []
    with pytest.raises(CircuitOpen):
        breaker.call(calls.append, 1)
    assert calls == []  # open: the service is not called at all


def test_success_resets_the_count(breaker):
    fail_times(breaker, 2)
    breaker.call(lambda: "ok")
    fail_times(breaker, 2)
    assert breaker.state == CLOSED


def test_half_open_probe_closes_or_reopens(breaker, clock):
    fail_times(breaker, 3)
    clock.now = 5.0
    assert breaker.state == HALF_OPEN
    with pytest.raises(ConnectionError):
        breaker.call(fail, failure=ConnectionError)  # the probe fails: open again, timer restarts
    assert breaker.state == OPEN
    clock.now = 10.0
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state == CLOSED


def test_half_open_lets_one_probe_through(breaker, clock):
    fail_times(breaker, 3)
    clock.now = 5.0
    inside, release = threading.Event(), threading.Event()

    def slow_probe():
        inside.set()
        release.wait(5)
        return "ok"

    probe = threading.Thread(target=breaker.call, args=(slow_probe,))
    probe.start()
    inside.wait(5)
    with pytest.raises(CircuitOpen, match="probe"):
        breaker.call(lambda: "second")
    release.set()
    probe.join(5)
    assert breaker.state == CLOSED


def test_other_exceptions_do_not_count(breaker):
    for _ in range(5):
        with pytest.raises(KeyError):
            breaker.call(lambda: {}["x"], failure=ConnectionError)
    assert breaker.state == CLOSED


def test_calls_run_concurrently_while_closed(breaker):
    """Unlike pybreaker, the lock is not held during the call."""
    barrier = threading.Barrier(4, timeout=5)
    threads = [threading.Thread(target=breaker.call, args=(barrier.wait,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert not barrier.broken


def test_a_retried_lookup_waits_a_jittered_doubling_backoff_from_50_ms(monkeypatch):
    """docs/failure.md: at most 2 more tries, after 50 ms and then 100 ms, each ±50 % jitter."""
    from communication.synchronous import user_client
    from communication.synchronous.user_client import Retryable, UserClient, UserServiceUnavailable

    class Refused:
        def get_user(self, base_url, user_id, headers):
            raise Retryable("refused", base_url)

    waits = []
    monkeypatch.setattr(user_client.time, "sleep", waits.append)
    monkeypatch.setenv("BREAKER_FAILURES", "1000")  # the breaker stays out of this
    client = UserClient(type("Locator", (), {"base_url": lambda self: "http://u"})(), Refused())
    for _ in range(20):
        with pytest.raises(UserServiceUnavailable, match="after 3 attempts"):
            client.get_user(1)
    firsts, seconds = waits[0::2], waits[1::2]
    assert len(waits) == 40
    assert all(0.025 <= w <= 0.075 for w in firsts) and all(0.05 <= w <= 0.15 for w in seconds)
    assert len({round(w, 6) for w in firsts}) > 1  # jittered, not one fixed wait
