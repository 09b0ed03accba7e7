"""A service's connection to NATS, on a thread of its own with its own asyncio event loop.

nats-py is asyncio only; the services are synchronous Flask apps served by threads. So each
gunicorn worker starts a Broker after the fork, and one of them, the one holding the database's
messaging lock, becomes the service's messaging process: a thread that runs an event loop,
connects (and reconnects) by itself, and runs the relay, the consumers and the saga's deadline
watcher as tasks on that loop. One per database: the outbox is published in order, and the
consumers handle a stream's messages in order too (a cancellation before the order after it).
When that worker dies the kernel drops its lock and another worker takes over. Nothing in a
request handler ever waits for the broker.

Where the broker is comes from a locator (discovery/locators.py): NATS_URL in the gateway demo,
Consul's passing `nats` instances in the discovery demo, asked again whenever the connection is lost,
so a broker that moves is followed.
"""

import asyncio
import fcntl
import json
import logging
import os
import random
import threading
import time
from pathlib import Path

import nats
from nats.errors import NoServersError
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from .streams import every_stream

log = logging.getLogger("broker")

# Reconnecting is bounded in its pace, not its patience: the wait doubles up to this, forever.
MAX_BACKOFF = float(os.getenv("BROKER_MAX_BACKOFF_SECONDS", "5"))
# A task that keeps failing while the connection looks fine (NATS restarted with an empty store,
# a stream or consumer deleted) gives up after this long, and the broker starts over: a new
# connection, the streams ensured again, each consumer made again.
START_OVER_SECONDS = float(os.getenv("BROKER_START_OVER_SECONDS", "10"))


class StartOver(Exception):
    """A task failed for START_OVER_SECONDS on a connection that looked fine."""


class Stuck:
    """A task's record of how long it has been failing on a connection that looks fine, and of
    its pause before the next try (doubling up to MAX_BACKOFF)."""

    FIRST_PAUSE = 0.1

    def __init__(self, broker, what):
        self.broker, self.what, self.since, self.pause = broker, what, None, self.FIRST_PAUSE

    def ok(self):
        self.since, self.pause = None, self.FIRST_PAUSE

    async def wait(self):
        """The pause before the next try, longer each time until ok()."""
        await asyncio.sleep(self.pause)
        self.pause = min(self.pause * 2, MAX_BACKOFF)

    def failed(self, exc):
        """Raises StartOver once it has failed for START_OVER_SECONDS while connected; while
        disconnected it is nats-py's reconnecting that counts, not this."""
        if not self.broker.is_connected:
            self.since = None
            return
        now = time.monotonic()
        self.since = self.since or now
        if now - self.since >= START_OVER_SECONDS:
            raise StartOver(f"{self.what} failed for {now - self.since:.0f} s while connected: {exc!r}") from exc


async def ended(futures):
    """Cancel `futures` until every one has ended; their results or exceptions, in order. Once is
    not enough on Python 3.11: asyncio.wait_for (nats-py's fetch uses it) ignores a cancel that
    lands as what it waits for completes (gh-86296), and a task caught so would run on unseen."""
    pending = set(futures)
    while pending:
        for future in pending:
            future.cancel()
        _, pending = await asyncio.wait(pending, timeout=1)
        if pending:
            log.warning("a broker task ran on after its cancel; cancelling again", extra={"tasks": len(pending)})
    return [asyncio.CancelledError() if f.cancelled() else f.exception() or f.result() for f in futures]


class Broker:
    """The process's connection to NATS JetStream, and the tasks that use it."""

    def __init__(self, locator, database, name="service", streams=None):
        self.locator = locator
        self.database = database
        # Every service ensures every stream, in the same configuration: whoever comes first makes it.
        self.streams = streams if streams is not None else every_stream()
        self.name = name
        self.loop = None
        self.nc = None
        self.js = None
        self.tasks = []  # coroutine functions taking this broker, run once connected
        self.attempts = 0
        self.elected = threading.Event()
        self.state = "not started"
        self.since = time.time()
        self._connected = None
        self._thread = None
        self._pid = None

    # -- life cycle -------------------------------------------------------------------------

    def run(self, task):
        """Run `task(broker)` on the broker's loop once it is connected (and again after a
        reconnect with a new connection). Call before start()."""
        self.tasks.append(task)

    def start(self):
        """Start the thread (once per process: gunicorn forks workers after loading the app).
        It waits for the database's messaging lock, then connects and runs the tasks."""
        if self._pid == os.getpid():
            return self
        self._pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._connected = asyncio.Event()
        self._thread = threading.Thread(target=self._main, name=f"broker-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _main(self):
        self._set("standby: another process of this service does its messaging")
        handle = open(f"{self.database}.messaging.lock", "a")  # noqa: SIM115  (kept open: the lock lives with it)
        fcntl.flock(handle, fcntl.LOCK_EX)  # until this process ends
        self._lock = handle
        self.elected.set()
        log.info("this process does the service's messaging", extra={"pid": os.getpid()})
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._stay_connected())

    def _set(self, state):
        if state != self.state:
            self.state, self.since = state, time.time()
            log.info("broker connection", extra={"state": state})
            if self.elected.is_set():  # every worker's /health tells the messaging process's state
                status = self._status_file()
                status.with_suffix(".tmp").write_text(
                    json.dumps({"pid": os.getpid(), "state": state, "since": self.since})
                )
                status.with_suffix(".tmp").replace(status)

    def _status_file(self):
        return Path(f"{self.database}.messaging.json")

    async def _stay_connected(self):
        """Connect, run the tasks, and when the connection is lost for good, start over with the
        locator's current answer; between tries the wait doubles up to MAX_BACKOFF."""
        delay = 0.2
        while True:
            self.attempts += 1
            try:
                servers = self.locator.urls()
                self._set(f"connecting to {', '.join(servers)}")
                await self._connect(servers)
            except Exception as exc:  # unreachable, no passing instance, registry down: try again
                self._set(f"unreachable ({type(exc).__name__}), attempt {self.attempts}")
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            self._set("connected")
            workers = [asyncio.ensure_future(task(self)) for task in self.tasks]
            lost = asyncio.ensure_future(self._lost())
            await asyncio.wait([lost, *workers], return_when=asyncio.FIRST_COMPLETED)
            connection_lost = lost.done()
            results = await ended([lost, *workers])
            await self._close()
            failed = [r for r in results[1:] if isinstance(r, Exception) and not isinstance(r, asyncio.CancelledError)]
            for exc in failed:
                log.error("broker task failed; reconnecting", exc_info=exc)
            if connection_lost and not failed:
                delay = 0.2  # the connection was lost: try again soon
            else:
                await asyncio.sleep(delay)  # a task failed: do not spin
                delay = min(delay * 2, MAX_BACKOFF)

    async def _connect(self, servers):
        self._connected.clear()

        async def on_disconnect():
            self._connected.clear()
            self._set("disconnected, reconnecting")

        async def on_reconnect():
            self._connected.set()
            self._set("connected")

        async def on_error(exc):
            log.warning("broker error", extra={"error": repr(exc)})

        self.nc = await asyncio.wait_for(
            nats.connect(
                servers,
                name=self.name,
                connect_timeout=2,
                allow_reconnect=True,
                # nats-py reconnects by itself to the servers it knows; after this many tries the
                # connection closes and _stay_connected asks the locator again (a moved broker).
                max_reconnect_attempts=int(os.getenv("BROKER_RECONNECT_ATTEMPTS", "10")),
                reconnect_time_wait=0.5,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                error_cb=on_error,
            ),
            timeout=5,
        )
        self.js = self.nc.jetstream()
        try:
            for config in self.streams:
                await ensure_stream(self.js, config)
        except BaseException:
            await self._close()  # not left open beside the next attempt's connection
            raise
        self._connected.set()

    async def _lost(self):
        """Returns when the connection is closed for good (nats-py gave up reconnecting)."""
        while not self.nc.is_closed:
            await asyncio.sleep(0.5)

    async def _close(self):
        try:
            if not self.nc.is_closed:
                await self.nc.close()
        except Exception:  # closing a broken connection: nothing more to do
            log.debug("close failed", exc_info=True)

    async def connected(self):
        """Wait (on the loop) until the connection is usable."""
        await self._connected.wait()

    @property
    def is_connected(self):
        return self._connected is not None and self._connected.is_set()

    # -- for synchronous callers ------------------------------------------------------------

    def call(self, coroutine, timeout=10):
        """Run a coroutine on the broker's loop and wait for its result (tests, tools)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def health(self):
        """The messaging process's connection, whichever worker answers."""
        try:
            status = json.loads(self._status_file().read_text())
        except (OSError, ValueError):
            status = {"pid": None, "state": self.state, "since": self.since}
        return {
            "broker": status["state"],
            "broker_since": round(time.time() - status["since"], 1),
            "messaging_pid": status["pid"],
        }


async def ensure_stream(js, config: StreamConfig):
    """Create the stream, or bring an existing one to this configuration (several services may
    ensure the same stream: whoever comes first creates it)."""
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except Exception:  # created meanwhile by another process
            await js.stream_info(config.name)
    await js.update_stream(config)


def errors_worth_retrying():
    """What a publish may raise while the broker is away (it may still have stored the message)."""
    import nats.errors
    import nats.js.errors

    return (
        asyncio.TimeoutError,
        TimeoutError,
        NoServersError,
        nats.errors.TimeoutError,
        nats.errors.ConnectionClosedError,
        nats.errors.ConnectionReconnectingError,
        nats.errors.NoRespondersError,
        nats.errors.OutboundBufferLimitError,
        nats.js.errors.NoStreamResponseError,
        nats.js.errors.TooManyStalledMsgsError,
        nats.js.errors.APIError,
    )
