"""A durable JetStream consumer that handles each event once and never chokes on a bad one.

- Durable, pull, explicit ack: the broker remembers where the consumer is; several processes
  pulling from the same durable share the work.
- Idempotent: the handler's changes and the event's id (processed_events) are written in one
  transaction; an event seen before is acked and changes nothing.
- Dead letters: a message that is not an event, of a type it does not know, or whose data its
  handler cannot use (DATA_ERRORS) goes at once to `deadletter.<stream>.<consumer>` with the
  reason; one whose handling fails otherwise (a database that refuses) is retried with a growing
  delay, and after MAX_DELIVERIES attempts dead-lettered too. Either way it is then
  terminated, and the messages behind it flow on (a nak'd one waits aside, it does not block).
"""

import logging
import os
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from servicekit.correlation import request_id_bound
from servicekit.db import connect, get_db, write_transaction

from . import outbox
from .broker import Stuck, errors_worth_retrying
from .events import Malformed, decode

SCHEMA = Path(__file__).with_name("inbox.sql")

log = logging.getLogger("consumer")


# What a handler raises when the event's data is wrong (a field missing or of another type, or out
# of SQLite's range; an id a foreign key refuses): no try will do, so it goes to the dead letters at
# once, as Malformed does.
DATA_ERRORS = (Malformed, KeyError, TypeError, ValueError, OverflowError, sqlite3.IntegrityError)


def bad_data(outcome):
    """A DATA_ERROR, or sqlite3 refusing to bind a value (a list, say); not its other
    ProgrammingErrors, which are the code's own."""
    unbindable = isinstance(outcome, sqlite3.ProgrammingError) and "binding parameter" in str(outcome)
    return isinstance(outcome, DATA_ERRORS) or unbindable


def max_deliveries():
    return int(os.getenv("MAX_DELIVERIES", "5"))


class Consumer:
    """A broker task: `handlers` maps an event type to `handler(db, event)`, which changes the
    database inside the transaction the consumer opens (and must not commit)."""

    def __init__(self, database, stream, durable, subjects, handlers, batch=100):
        self.database = database
        self.stream = stream
        self.durable = durable
        self.subjects = list(subjects)
        self.handlers = handlers
        self.batch = batch

    def config(self):
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subjects=self.subjects,
            # We count deliveries and dead-letter ourselves; the broker never drops one silently.
            max_deliver=-1,
            ack_wait=30,
            max_ack_pending=1000,
        )

    async def __call__(self, broker):
        await broker.js.add_consumer(self.stream, self.config())  # create, or update to this config
        subscription = await broker.js.pull_subscribe_bind(self.durable, self.stream)
        db = connect(self.database)
        stuck = Stuck(broker, f"fetching for {self.durable}")
        try:
            self._count_now(db, {})  # /health lists the consumer from its start, at 0
            while True:
                try:
                    messages = await subscription.fetch(self.batch, timeout=1)
                except TimeoutError:  # nothing to fetch for a second (the broker answers): ask again
                    stuck.ok()
                    continue
                except errors_worth_retrying() as exc:  # the broker is away, or refuses: ask again, slower
                    stuck.failed(exc)
                    await broker.connected()
                    await stuck.wait()
                    continue
                stuck.ok()
                await self.handle(broker, db, messages)
        finally:
            db.close()

    async def handle(self, broker, db, messages):
        """What was fetched: the events applied (apply_fetched), then each message answered
        (acked, retried later, or dead-lettered). One commit per batch, not per event: under
        load the consumer keeps up at a fraction of the cost."""
        applicable, refused = [], []
        for message in messages:
            deliveries = message.metadata.num_delivered
            try:
                event = decode(message.data, message.headers)
            except Malformed as exc:
                refused.append((message, None, f"malformed: {exc}"))
                continue
            handler = self.handlers.get(event.type)
            if handler is None:
                refused.append((message, event.request_id, f"unknown event type {event.type!r}"))
            elif deliveries > max_deliveries():  # the last try crashed the process itself
                refused.append((message, event.request_id, f"gave up after {deliveries - 1} deliveries"))
            else:
                applicable.append((message, event, handler))
        outcomes = self.apply_fetched(db, applicable)
        answered = Counter()  # retried and dead_lettered (handled and duplicates: in apply)
        try:
            for (message, event, _), outcome in zip(applicable, outcomes, strict=True):
                with request_id_bound(event.request_id):
                    answered[await self.answer(broker, message, event, outcome)] += 1
            for message, request_id, reason in refused:
                with request_id_bound(request_id):
                    answered[await self.dead_letter(broker, message, reason)] += 1
        finally:
            del answered[None]
            if answered:  # (no commit for a batch that went well)
                self._count_now(db, answered)

    def apply_fetched(self, db, applicable):
        """One transaction for the whole fetch; but a fetch holding a redelivered message (the
        last try may have crashed the process) goes one event per transaction, so only the
        event that crashes is tried again and again, never the good ones fetched beside it.
        A database that refuses the transaction (locked past its timeout, disk full) fails
        every event of it: each is retried later, as a failing handler's is."""
        events = [(event, handler) for _, event, handler in applicable]
        redelivered = any(message.metadata.num_delivered > 1 for message, _, _ in applicable)
        batches = [[e] for e in events] if redelivered else [events] if events else []
        outcomes = []
        for batch in batches:
            try:
                outcomes += self.apply(db, batch)
            except Exception as exc:
                outcomes += [exc] * len(batch)
        return outcomes

    async def answer(self, broker, message, event, outcome):
        """Ack, retry later or dead-letter; returns "retried" or "dead_lettered" (handled and
        duplicates were counted in the events' transaction), else None."""
        deliveries = message.metadata.num_delivered
        if bad_data(outcome):  # the handler found the event itself wrong
            wrong = f"missing {outcome}" if isinstance(outcome, KeyError) else str(outcome) or repr(outcome)
            return await self.dead_letter(broker, message, f"malformed: {wrong}")
        if isinstance(outcome, Exception):  # the handler failed: later, or dead letters after the last try
            log.warning("handling failed", extra={"event_id": event.id, "attempt": deliveries, "error": repr(outcome)})
            if deliveries >= max_deliveries():
                return await self.dead_letter(broker, message, f"failed {deliveries} times: {outcome!r}")
            await message.nak(delay=min(0.2 * 2**deliveries, 10))
            return "retried"
        first_time = outcome
        log.info("event handled" if first_time else "event seen before", extra={"event_id": event.id})
        await message.ack()
        return None

    def apply(self, db, events):
        """Each event's changes and its id together (a savepoint each), all in one transaction:
        per event True (applied), False (seen before: nothing changes twice) or the handler's
        exception (its changes undone, the others kept). The transaction takes the write lock
        first (BEGIN IMMEDIATE): what a handler reads nobody changes before it writes (the
        saga's credit check relies on it)."""
        outcomes = []
        with write_transaction(db):
            for event, handler in events:
                with request_id_bound(event.request_id):
                    outcomes.append(self._apply_one(db, handler, event))
            self._add_counts(db, handled=outcomes.count(True), duplicates=outcomes.count(False))
        if True in outcomes:
            outbox.wake(self.database)  # what the handlers wrote to the outbox goes out now, not at the next poll
        return outcomes

    def _apply_one(self, db, handler, event):
        db.execute("SAVEPOINT event")
        try:
            db.execute(
                "INSERT INTO processed_events (event_id, consumer, processed_at) VALUES (?, ?, ?)",
                (event.id, self.durable, time.time()),
            )
            handler(db, event)
        except Exception as exc:
            db.execute("ROLLBACK TO event")
            db.execute("RELEASE event")
            if isinstance(exc, sqlite3.IntegrityError) and "processed_events" in str(exc):
                return False
            return exc
        db.execute("RELEASE event")
        return True

    async def dead_letter(self, broker, message, reason):
        """Keep the message, with why, in the dead letters; then let it go."""
        metadata = message.metadata
        data, headers = dead_letter_copy(message, reason, self.stream, self.durable, broker.nc.max_payload)
        try:
            await broker.js.publish(f"deadletter.{self.stream}.{self.durable}", data, headers=headers, timeout=5)
        except errors_worth_retrying() as exc:  # not kept yet: it comes back later, the others flow on
            log.warning("dead letter not stored; later", extra={"reason": reason, "error": repr(exc)})
            await message.nak(delay=10)
            return "retried"
        log.error(
            "dead-lettered", extra={"reason": reason, "subject": message.subject, "seq": metadata.sequence.stream}
        )
        await message.term()
        return "dead_lettered"

    def _add_counts(self, db, **added):
        """Add to this consumer's counts, in the caller's transaction."""
        values = [added.get(name, 0) for name in COUNTS]
        db.execute(_ADD_COUNTS, (self.durable, *values))

    def _count_now(self, db, added):
        """Counts of their own transaction: diagnostics, so a database that refuses them (locked,
        full) is logged, never a reason to stop consuming."""
        try:
            with db:
                self._add_counts(db, **added)
        except sqlite3.Error as exc:
            log.warning("consumer counts not written", extra={"consumer": self.durable, "error": repr(exc)})


COUNTS = ("handled", "duplicates", "retried", "dead_lettered")
_ADD_COUNTS = (
    f"INSERT INTO consumer_counts (consumer, {', '.join(COUNTS)}) VALUES (?{', ?' * len(COUNTS)})"
    f" ON CONFLICT (consumer) DO UPDATE SET {', '.join(f'{n} = {n} + excluded.{n}' for n in COUNTS)}"
)


def status(db):
    """What each consumer of this database has done, for /health. Kept in the database, not in
    the messaging process's memory, so every worker shows the same figures."""
    rows = db.execute(f"SELECT consumer, {', '.join(COUNTS)} FROM consumer_counts ORDER BY consumer")
    return {"consumers": {row["consumer"]: {name: row[name] for name in COUNTS} for row in rows}}


def health():
    """status() for a service's /health (a health_details hook), from the request's database."""
    return status(get_db())


HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def dead_letter_copy(message, reason, stream, durable, max_payload):
    """(body, headers) of a message's dead letter, made so the broker takes it whatever the
    message was: of its own headers only those that can be sent again (a valid name, one line,
    none of the broker's Nats-* instructions, which the DEADLETTER stream would refuse), none if
    they would crowd out the body; and the body cut where the whole would pass max_payload."""
    metadata = message.metadata
    ours = {
        # Once per message, however often this runs for it.
        "Nats-Msg-Id": f"dead-{stream}-{metadata.sequence.stream}-{durable}",
        "Dead-Letter-Reason": " ".join(reason.split())[:500],
        "Original-Subject": message.subject,
        "Original-Sequence": str(metadata.sequence.stream),
        "Deliveries": str(metadata.num_delivered),
    }
    theirs = {
        name: value
        for name, value in (message.headers or {}).items()
        if HEADER_NAME.fullmatch(name) and not name.lower().startswith("nats-") and not {"\r", "\n"} & set(value)
    }
    headers = {**theirs, **ours}
    if _size(headers) > max_payload // 4:
        headers = ours
    data = message.data
    room = max(0, max_payload - _size(headers) - 256)  # 256: the header block's frame, and the note below
    if len(data) > room:
        headers["Dead-Letter-Truncated"] = f"{len(data)} bytes, the first {room} kept"
        data = data[:room]
    return data, headers


def _size(headers):
    return sum(len(f"{name}: {value}\r\n".encode()) for name, value in headers.items())
