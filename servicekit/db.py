"""SQLite, one database per service (the doc's DB1 and DB2): a connection per thread, kept."""

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from flask import abort, current_app, g

from .validation import MAX_ID


def connect(path):
    conn = sqlite3.connect(path, timeout=5)
    conn.row_factory = sqlite3.Row
    # Several gunicorn workers write to one file: wait for the lock instead of failing.
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    # WAL + NORMAL: a commit survives a crash or kill of the process (every fault test does that),
    # but is not fsynced until the next checkpoint, so a power cut may lose the last commits. FULL
    # fsyncs every commit: several ms each on this disk, the largest and noisiest cost of an order.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


@contextmanager
def write_transaction(db):
    """One transaction that takes SQLite's write lock first (BEGIN IMMEDIATE): what it reads
    nobody changes before it writes. Committed at the end, rolled back on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise


_threads = threading.local()


def get_db():
    """This thread's connection, opened once and then reused. Closing the last connection to a
    WAL database checkpoints it, an fsync: per request that cost more than the order itself
    (profiled in make bench)."""
    if "db" not in g:
        connections = _threads.__dict__.setdefault("connections", {})
        path = current_app.config["DATABASE"]
        if path not in connections:
            connections[path] = connect(path)
        g.db = connections[path]
    return g.db


def close_db(_exc=None):
    conn = g.pop("db", None)
    if conn is not None and conn.in_transaction:
        conn.rollback()  # a request that failed midway leaves nothing half-written


def init_db(path, schemas):
    """Create the tables of the .sql file(s) `schemas` if missing: data survives restarts, a
    fresh volume starts empty."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    conn = connect(path)
    try:
        # WAL lets readers and the writer work at once across worker processes.
        conn.execute("PRAGMA journal_mode = WAL")
        for schema in schemas if isinstance(schemas, list | tuple) else [schemas]:
            conn.executescript(Path(schema).read_text())
    finally:
        conn.close()


def init_app(app, schema):
    init_db(app.config["DATABASE"], schema)
    app.teardown_appcontext(close_db)


def row_or_404(sql, row_id, what):
    """The row `sql` finds for `row_id`, or a 404 JSON error: ids past SQLite's range find nothing."""
    row = get_db().execute(sql, (row_id,)).fetchone() if row_id <= MAX_ID else None
    if row is None:
        abort(404, description=f"{what} {row_id} not found")
    return row


# At most how long a GET may wait for what it asks (?wait=N): well under the gateway's read
# timeout (GATEWAY_READ_TIMEOUT, 10 s), which would otherwise end the longest wait with a 504.
MAX_WAIT = 8


def blocking_read(read, ready, seconds, interval=0.02):
    """Consul-style blocking query on the service's own database: read() again until
    ready(result) or `seconds` have passed; returns the last result."""
    deadline = time.monotonic() + seconds
    while True:
        result = read()
        if ready(result) or time.monotonic() >= deadline:
            return result
        time.sleep(interval)  # polling its own database, bounded by the deadline
