"""The consumer's transactions, on a real SQLite file: a fetch applied in one transaction with a
savepoint per event; what fails is undone alone, what was seen before changes nothing twice, and
a fetch with a redelivered message goes one event per transaction."""

import asyncio
import sqlite3
from contextlib import closing
from types import SimpleNamespace

import nats.errors
import pytest

from communication.asynchronous import consumer as consumers
from communication.asynchronous import outbox
from communication.asynchronous.events import Event, Malformed, decode
from saga import credit
from saga.deadlines import DeadlineWatcher
from servicekit.db import connect, init_db
from services import users


@pytest.fixture
def db(tmp_path):
    conn = connect(tmp_path / "inbox.sqlite3")
    conn.executescript(consumers.SCHEMA.read_text() + "CREATE TABLE effects (event_id TEXT);")
    yield conn
    conn.close()


def record(db, event):
    db.execute("INSERT INTO effects (event_id) VALUES (?)", (event.id,))
    if event.data.get("fail"):
        raise RuntimeError("the handler failed")


def fetched(*events, delivered=1):
    message = SimpleNamespace(metadata=SimpleNamespace(num_delivered=delivered))
    return [(message, event, record) for event in events]


def effects(db):
    return [row[0] for row in db.execute("SELECT event_id FROM effects ORDER BY rowid")]


def test_a_failing_event_is_undone_alone_and_a_duplicate_changes_nothing(db, tmp_path):
    consumer = consumers.Consumer(str(tmp_path / "inbox.sqlite3"), "ORDERS", "test", ["orders.>"], {})
    good, bad, again = Event("t", {}), Event("t", {"fail": True}), Event("t", {})
    again.id = good.id  # the same event delivered twice within one fetch
    outcomes = consumer.apply_fetched(db, fetched(good, bad, again))
    assert outcomes[0] is True and isinstance(outcomes[1], RuntimeError) and outcomes[2] is False
    assert effects(db) == [good.id]  # the failed one's row rolled back, the duplicate's never written
    assert consumer.apply_fetched(db, fetched(good)) == [False]  # a later delivery: seen before


def test_a_crash_mid_batch_commits_nothing(db, tmp_path):
    consumer = consumers.Consumer(str(tmp_path / "inbox.sqlite3"), "ORDERS", "test", ["orders.>"], {})

    def crash(db, event):
        raise SystemExit  # the process dies while handling: nothing of the fetch is stored

    with pytest.raises(SystemExit):
        consumer.apply(db, [(Event("t", {}), record), (Event("t", {}), crash)])
    assert effects(db) == [] and db.execute("SELECT COUNT(*) FROM processed_events").fetchone()[0] == 0


def test_a_redelivered_fetch_goes_one_event_per_transaction(db, tmp_path, monkeypatch):
    consumer = consumers.Consumer(str(tmp_path / "inbox.sqlite3"), "ORDERS", "test", ["orders.>"], {})
    transactions = []
    apply = consumer.apply
    monkeypatch.setattr(consumer, "apply", lambda db, batch: transactions.append(len(batch)) or apply(db, batch))
    consumer.apply_fetched(db, fetched(Event("t", {}), Event("t", {}), Event("t", {})))
    consumer.apply_fetched(db, fetched(Event("t", {}), Event("t", {}), delivered=2))
    assert transactions == [3, 1, 1]


def test_a_database_that_refuses_the_transaction_fails_each_event_for_a_retry(db, tmp_path):
    consumer = consumers.Consumer(str(tmp_path / "inbox.sqlite3"), "ORDERS", "test", ["orders.>"], {})
    db.execute("BEGIN")  # BEGIN IMMEDIATE inside a transaction: refused, as a lock held too long is
    outcomes = consumer.apply_fetched(db, fetched(Event("t", {}), Event("t", {})))
    assert len(outcomes) == 2 and all(isinstance(o, Exception) for o in outcomes)


def test_an_event_its_handler_finds_malformed_is_dead_lettered_at_once(tmp_path, monkeypatch):
    """A forged message (here a negative amount) is no retry's business: one delivery, then the
    dead letters, with the handler's reason."""
    consumer = consumers.Consumer(str(tmp_path / "inbox.sqlite3"), "CREDIT", "test", ["credit.>"], {})
    letters = []

    async def dead_letter(broker, message, reason):
        letters.append(reason)

    monkeypatch.setattr(consumer, "dead_letter", dead_letter)
    message = SimpleNamespace(metadata=SimpleNamespace(num_delivered=1))
    with pytest.raises(Malformed) as refused:
        credit.reserve(None, order_id=7, user_id=1, amount_cents=-100_000)  # refused before the database
    asyncio.run(consumer.answer(None, message, Event("order.created", {}), refused.value))
    assert letters == ["malformed: order 7, user 1, amount_cents -100000: out of range"]


@pytest.mark.parametrize(
    "data, reason",
    [
        ({"saga": "choreography", "user_id": 1, "amount_cents": 100}, "malformed: missing 'order_id'"),
        (
            {"saga": "choreography", "order_id": "seven", "user_id": 1, "amount_cents": 100},
            "malformed: invalid literal for int() with base 10: 'seven'",
        ),
        (
            {"saga": "choreography", "order_id": 1, "user_id": 1e999, "amount_cents": 100},
            "malformed: cannot convert float infinity to integer",
        ),
    ],
)
def test_an_event_whose_data_its_handler_cannot_use_is_dead_lettered_at_once(tmp_path, data, reason):
    """A field missing or of another type is no retry's business either: the first delivery goes
    to the dead letters, with what was wrong, instead of MAX_DELIVERIES tries."""
    path = str(tmp_path / "users.sqlite3")
    init_db(path, [users.SCHEMA, consumers.SCHEMA, outbox.SCHEMA, credit.SCHEMA])
    consumer = consumers.Consumer(path, "ORDERS", "test", ["orders.>"], {"order.created": credit.on_order_created})
    letters = []

    async def dead_letter(broker, message, reason):
        letters.append(reason)

    consumer.dead_letter = dead_letter
    message = SimpleNamespace(metadata=SimpleNamespace(num_delivered=1))
    event = Event("order.created", data)
    with closing(connect(path)) as db:
        (outcome,) = consumer.apply_fetched(db, [(message, event, credit.on_order_created)])
    asyncio.run(consumer.answer(None, message, event, outcome))
    assert letters == [reason]


def test_a_value_sqlite_cannot_bind_is_bad_data_but_its_other_programming_errors_are_the_codes():
    assert consumers.bad_data(sqlite3.ProgrammingError("Error binding parameter 1: type 'list' is not supported"))
    assert not consumers.bad_data(sqlite3.ProgrammingError("Incorrect number of bindings supplied."))


def test_a_message_nested_too_deeply_is_malformed_not_a_crash():
    deep = b'{"id": "deep", "type": "order.created", "time": 1, "data": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    with pytest.raises(Malformed, match="nested too deeply"):
        decode(deep)


def poison(data, headers):
    metadata = SimpleNamespace(sequence=SimpleNamespace(stream=7), num_delivered=1)
    return SimpleNamespace(metadata=metadata, subject="orders.created", headers=headers, data=data)


@pytest.mark.parametrize(
    "data, headers",
    [
        (b"x" * (2**20 - 100), {"X-Request-ID": "r1"}),  # the body alone nearly at the limit
        (b"{}", {"X-Big": "a" * 2**20}),  # headers that alone pass it
        (b"{}", {"X@Y": "1", "Nats-Expected-Stream": "ORDERS", "X-Multi": "a\r\nb", "X-Request-ID": "r1"}),
    ],
)
def test_a_dead_letter_always_fits_and_carries_only_headers_the_broker_takes(data, headers):
    body, sent = consumers.dead_letter_copy(poison(data, headers), "why\nnot", "ORDERS", "test", 2**20)
    size = len(body) + sum(len(f"{k}: {v}\r\n".encode()) for k, v in sent.items()) + 64
    assert size <= 2**20
    assert all(consumers.HEADER_NAME.fullmatch(k) and "\n" not in v and "\r" not in v for k, v in sent.items())
    assert [k for k in sent if k.lower().startswith("nats-")] == ["Nats-Msg-Id"]
    assert sent["Dead-Letter-Reason"] == "why not" and sent["Original-Sequence"] == "7"
    assert ("Dead-Letter-Truncated" in sent) == (len(body) < len(data))
    if "X-Big" not in headers:
        assert sent["X-Request-ID"] == "r1"


class Delivered(SimpleNamespace):
    """A fetched message as the consumer sees it, remembering how it was answered."""

    def __init__(self, data, delivered=1):
        metadata = SimpleNamespace(num_delivered=delivered, sequence=SimpleNamespace(stream=1))
        super().__init__(data=data, headers={}, subject="orders.created", metadata=metadata, answered=None)

    async def ack(self):
        self.answered = "ack"

    async def nak(self, delay=None):
        self.answered = "nak"

    async def term(self):
        self.answered = "term"


def broker_publishing_to(published):
    """The consumer's view of a broker: dead letters go to `published` (their subjects)."""

    async def publish(subject, data, headers, timeout):
        published.append(subject)

    return SimpleNamespace(js=SimpleNamespace(publish=publish), nc=SimpleNamespace(max_payload=2**20))


def test_the_counts_are_kept_in_the_database_whatever_process_asks(db, tmp_path):
    """Every gunicorn worker answers /health, only one does the messaging: the counts it shows
    come from the database, where the consumer keeps them."""
    published = []
    broker = broker_publishing_to(published)
    consumer = consumers.Consumer(str(tmp_path / "inbox.sqlite3"), "ORDERS", "test", ["orders.>"], {"t": record})
    good, failing = Event("t", {}), Event("t", {"fail": True})
    messages = [Delivered(good.body()), Delivered(good.body()), Delivered(failing.body()), Delivered(b"not json")]
    asyncio.run(consumer.handle(broker, db, messages))
    assert [m.answered for m in messages] == ["ack", "ack", "nak", "term"]
    assert published == ["deadletter.ORDERS.test"]
    counts = {"handled": 1, "duplicates": 1, "retried": 1, "dead_lettered": 1}
    assert consumers.status(db) == {"consumers": {"test": counts}}
    # A batch whose commit fails (here a deferred foreign key) counts nothing of it.
    db.executescript(
        "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (pid REFERENCES p DEFERRABLE INITIALLY DEFERRED);"
    )
    with pytest.raises(sqlite3.IntegrityError):
        consumer.apply(db, [(Event("t", {}), lambda db, event: db.execute("INSERT INTO c VALUES (7)"))])
    assert consumers.status(db) == {"consumers": {"test": counts}}


def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered_after_max_deliveries(db, tmp_path, monkeypatch):
    """A failure that is not the event's fault (here a RuntimeError) is tried again later, with a
    growing delay, and the last allowed delivery that fails goes to the dead letters."""
    monkeypatch.setenv("MAX_DELIVERIES", "3")
    published = []
    consumer = consumers.Consumer(str(tmp_path / "inbox.sqlite3"), "ORDERS", "test", ["orders.>"], {"t": record})
    failing = Event("t", {"fail": True}).body()
    answers = []
    for delivered in (1, 2, 3):
        message = Delivered(failing, delivered=delivered)
        asyncio.run(consumer.handle(broker_publishing_to(published), db, [message]))
        answers.append(message.answered)
    assert answers == ["nak", "nak", "term"] and published == ["deadletter.ORDERS.test"]
    assert consumers.status(db)["consumers"]["test"]["dead_lettered"] == 1


def test_counts_the_database_refuses_never_stop_the_consumer(db, tmp_path, caplog):
    consumer = consumers.Consumer(str(tmp_path / "inbox.sqlite3"), "ORDERS", "test", ["orders.>"], {"t": record})
    db.execute("DROP TABLE consumer_counts")  # the counts' write fails
    messages = [Delivered(b"not json")]
    asyncio.run(consumer.handle(broker_publishing_to([]), db, messages))
    assert messages[0].answered == "term"
    assert "consumer counts not written" in caplog.messages


def test_a_dead_letter_the_broker_cannot_take_yet_comes_back_later_and_the_rest_flow(db, tmp_path):
    """The dead letters' publish times out: the bad message is let go for later (nak), not
    left to end the whole messaging process, and the good one beside it is acked."""

    async def publish(subject, data, headers, timeout):
        raise nats.errors.TimeoutError

    broker = SimpleNamespace(js=SimpleNamespace(publish=publish), nc=SimpleNamespace(max_payload=2**20))
    consumer = consumers.Consumer(str(tmp_path / "inbox.sqlite3"), "ORDERS", "test", ["orders.>"], {"t": record})
    messages = [Delivered(b"not json"), Delivered(Event("t", {}).body())]
    asyncio.run(consumer.handle(broker, db, messages))
    assert [m.answered for m in messages] == ["nak", "ack"]


def test_a_deadline_round_the_database_refuses_is_put_off_not_the_end_of_messaging():
    """A write lock held past busy_timeout makes one round fail; the watcher goes on with the
    next, instead of taking the relay and the consumers down with it."""
    rounds = []

    def overdue(db):
        rounds.append(1)
        if len(rounds) == 1:
            raise sqlite3.OperationalError("database is locked")
        return 0

    style = SimpleNamespace(overdue=overdue, resume=lambda db: None, postpone=lambda db, seconds: None)
    connected = SimpleNamespace(is_connected=True)

    async def watch():
        task = asyncio.ensure_future(DeadlineWatcher(":memory:", style, every=0.01)(connected))
        for _ in range(200):  # at most 2 s
            if len(rounds) >= 3 or task.done():
                break
            await asyncio.sleep(0.01)
        task.cancel()
        return task

    task = asyncio.run(watch())
    assert len(rounds) >= 3 and task.cancelled()


def test_the_deadlines_clock_stands_still_while_the_broker_is_away():
    """Disconnected, no step is decided (its request may still be in the outbox, its answer in
    the stream). The first connect after a start gives every waiting step a full step (resume);
    a reconnect, on this connection or a new one, moves the deadlines by the time away (postpone)."""
    calls = []
    broker = SimpleNamespace(is_connected=False)
    style = SimpleNamespace(
        overdue=lambda db: calls.append("overdue") or 0,
        resume=lambda db: calls.append("resume"),
        postpone=lambda db, seconds: calls.append(("postpone", seconds)),
    )
    watcher = DeadlineWatcher(":memory:", style, every=0.01)

    async def rounds_while(connected, wanted):
        broker.is_connected = connected
        for _ in range(200):  # at most 2 s
            if calls.count("overdue") >= wanted:
                return
            await asyncio.sleep(0.01)

    async def watch():
        task = asyncio.ensure_future(watcher(broker))
        await rounds_while(False, 1)  # 2 s of rounds: none may decide
        assert calls == []
        await rounds_while(True, 3)
        decided = len(calls)
        await rounds_while(False, 1000)  # away again: 2 s of nothing
        assert len(calls) == decided
        await rounds_while(True, calls.count("overdue") + 3)
        assert not task.done(), task.exception()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        again = asyncio.ensure_future(watcher(broker))  # the broker starts its tasks over
        await rounds_while(True, calls.count("overdue") + 3)
        again.cancel()
        return decided

    decided = asyncio.run(watch())
    assert calls[:2] == ["resume", "overdue"] and calls.count("resume") == 1
    postponed = [c for c in calls if c[0] == "postpone"]
    assert calls[decided][0] == "postpone" and 2.0 <= postponed[0][1] < 4.0  # the 2 s it was away
    assert len(postponed) == 2 and postponed[1][1] < 1.0  # a task started over: its moment away


def test_a_stamp_the_database_refuses_is_published_again_then_stamped(tmp_path, monkeypatch):
    """The relay published a row, but stamping it found the database locked: it publishes it
    again later (JetStream drops the copy by its Nats-Msg-Id) and stamps it then, without
    ending the messaging process."""
    path = str(tmp_path / "orders.sqlite3")
    init_db(path, [outbox.SCHEMA])
    with closing(connect(path)) as conn, conn:
        outbox.add(conn, Event("order.created", {"order_id": 1}))

    def impatient(database):  # busy_timeout 0: the lock refuses at once, not after 5 s
        conn = connect(database)
        conn.execute("PRAGMA busy_timeout = 0")
        return conn

    monkeypatch.setattr(outbox, "connect", impatient)
    published = []

    async def publish_async(subject, body, headers):
        published.append(headers["Nats-Msg-Id"])
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def connected():
        return True

    broker = SimpleNamespace(connected=connected, js=SimpleNamespace(publish_async=publish_async))
    holder = sqlite3.connect(path)
    holder.execute("BEGIN IMMEDIATE")

    async def relay_until_stamped():
        task = asyncio.ensure_future(outbox.Relay(path)(broker))
        try:
            for _ in range(400):  # at most 4 s
                if len(published) >= 2 and holder.in_transaction:
                    holder.rollback()  # the lock goes: the next round can stamp
                if not holder.in_transaction and outbox.status(connect(path))["outbox_depth"] == 0:
                    break
                assert not task.done(), task.exception()
                await asyncio.sleep(0.01)
        finally:
            task.cancel()

    try:
        asyncio.run(relay_until_stamped())
    finally:
        holder.close()
    assert len(published) >= 3 and len(set(published)) == 1  # the one row, published until stamped
    assert outbox.status(connect(path))["outbox_depth"] == 0


def test_the_event_streams_keep_a_week_and_commands_are_a_work_queue():
    """docs/messaging.md: ORDERS (and CREDIT) kept 7 days, replayable by any later subscriber;
    a command is gone once handled; every stream on disk, duplicates dropped for 10 minutes."""
    from nats.js.api import RetentionPolicy, StorageType

    from communication.asynchronous.streams import every_stream

    streams = {config.name: config for config in every_stream()}
    for name in ("ORDERS", "CREDIT"):
        assert streams[name].retention == RetentionPolicy.LIMITS and streams[name].max_age == 7 * 24 * 3600
    assert streams["COMMANDS"].retention == RetentionPolicy.WORK_QUEUE
    assert all(s.storage == StorageType.FILE and s.duplicate_window == 600 for s in streams.values())
