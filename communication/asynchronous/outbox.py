"""The transactional outbox and its relay.

A service writes an event with `add(db, event)` inside the transaction that makes the change, then
calls `wake(database)` after the commit. The relay, a task of the service's messaging process
(one per database: broker.py), publishes the unsent rows in id order to JetStream, with
Nats-Msg-Id = the event id, and stamps them sent. While the broker is away the rows wait and the
relay retries with a growing pause; a row published but not yet stamped (a crash in between) is
published again and JetStream drops the duplicate.
"""

import asyncio
import functools
import hashlib
import logging
import os
import socket
import sqlite3
import threading
import time
from pathlib import Path

from servicekit.correlation import request_id_bound
from servicekit.db import connect

from .broker import Stuck, errors_worth_retrying

SCHEMA = Path(__file__).with_name("outbox.sql")
BATCH = 100
IDLE_POLL = 0.25  # seconds: how often an idle relay looks anyway (a wake-up may come from another host)

log = logging.getLogger("relay")


def add(db, event):
    """Write `event` in the caller's open transaction."""
    db.execute(
        "INSERT INTO outbox (event_id, type, subject, body, request_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (event.id, event.type, event.subject, event.body(), event.request_id, event.time),
    )


@functools.cache
def _wake_address(database):
    """An abstract Unix socket name per database: no file to clean up, and no path-length limit."""
    digest = hashlib.sha256(os.path.realpath(database).encode()).hexdigest()[:24]
    return f"\0microservices-relay-{digest}"


_sender = threading.local()  # one unbound datagram socket per thread, made once: wake() is on every order's path


def wake(database):
    """Tell the relay there is something to publish (best effort: it also looks every IDLE_POLL).
    Never waits: when the relay's queue of wake-ups is full it has plenty (a blocking send here
    would hang a consumer on the relay's own thread, or a request on a busy relay)."""
    sender = getattr(_sender, "socket", None)
    if sender is None:
        sender = _sender.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sender.sendto(b"!", socket.MSG_DONTWAIT, _wake_address(database))
    except OSError:
        pass  # queue full, or no relay listening in this process's network namespace: it will poll


def status(db):
    """Outbox depth and the age of its oldest unsent row, for /health."""
    depth, oldest = db.execute("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL").fetchone()
    return {"outbox_depth": depth, "outbox_oldest_seconds": round(time.time() - oldest, 3) if oldest else 0.0}


class Relay:
    """A broker task: publishes the outbox of `database`."""

    def __init__(self, database):
        self.database = database
        self.published = 0

    async def __call__(self, broker):
        wakeups = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        wakeups.bind(_wake_address(self.database))
        wakeups.setblocking(False)
        woken = asyncio.Event()

        def drain():
            try:
                while wakeups.recv(64):
                    pass
            except BlockingIOError:
                pass
            woken.set()

        loop = asyncio.get_running_loop()
        loop.add_reader(wakeups.fileno(), drain)
        db = connect(self.database)
        try:
            while True:
                woken.clear()  # before looking: a wake-up during the publish is kept, not lost
                try:
                    more = await self._publish_pending(broker, db)
                except sqlite3.OperationalError as exc:
                    # The stamp found the database locked past busy_timeout: those rows go again
                    # (JetStream drops what it already has, by Nats-Msg-Id), after a pause.
                    log.warning("outbox not stamped; publishing again", extra={"error": repr(exc)})
                    more = False
                if not more:
                    try:  # asyncio.timeout, not wait_for: on 3.11 that can swallow a cancel
                        async with asyncio.timeout(IDLE_POLL):
                            await woken.wait()
                    except TimeoutError:
                        pass
        finally:
            loop.remove_reader(wakeups.fileno())
            wakeups.close()
            db.close()

    async def _publish_pending(self, broker, db):
        """Publish up to BATCH unsent rows, in order, and stamp them sent; True if there may be
        more (a full batch). Not looking again after a short one saves a query per order."""
        rows = db.execute(
            "SELECT id, event_id, subject, body, request_id FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?",
            (BATCH,),
        ).fetchall()
        if rows:
            await self._publish(broker, rows)
            with db:
                db.executemany("UPDATE outbox SET sent_at = ? WHERE id = ?", [(time.time(), r["id"]) for r in rows])
            self.published += len(rows)
        return len(rows) == BATCH

    async def _publish(self, broker, rows):
        """Until the broker has them all: sent one after the other on the one connection (so the
        stream stores them in order), their acknowledgements awaited together. If any fails, the
        whole batch goes again, never a later row first; what arrives twice JetStream drops."""
        stuck = Stuck(broker, "publishing the outbox")
        while True:
            await broker.connected()
            acks = []
            try:
                for row in rows:
                    headers = {"Nats-Msg-Id": row["event_id"], "X-Request-ID": row["request_id"] or ""}
                    acks.append(await broker.js.publish_async(row["subject"], row["body"], headers=headers))
                async with asyncio.timeout(5):
                    await asyncio.gather(*acks)
                return
            except errors_worth_retrying() as exc:
                for ack in acks:
                    ack.cancel()  # an answer that never comes must not hold a slot
                with request_id_bound(rows[0]["request_id"]):
                    log.warning(
                        "publish failed; the rows wait", extra={"event_id": rows[0]["event_id"], "error": repr(exc)}
                    )
                stuck.failed(exc)
            await stuck.wait()
