"""Deadlines: a saga's step that had no answer in time is not left waiting.

A broker task of order-service's messaging process (saga styles both): every half second, in one
transaction, the style's `overdue` decides what the late steps become. Its clock runs only while
order-service is connected to the broker: until then a step's request may still sit in the
outbox, its answer in the stream. So when the connection comes back, every waiting step's
deadline moves by the time it was away (`postpone`), and after a restart, when nobody knows how
long that was, every waiting step gets a full step from then (`resume`).
"""

import asyncio
import logging
import sqlite3
import time

from communication.asynchronous import outbox
from servicekit.db import connect, write_transaction

log = logging.getLogger("saga")


class DeadlineWatcher:
    def __init__(self, database, style, every=0.5):
        """`style`: the saga style's module, with `overdue(db)`, `resume(db)` and `postpone(db, s)`."""
        self.database = database
        self.style = style
        self.every = every
        # Kept across the broker's reconnects (each runs this task anew), not across restarts.
        self.resumed = False
        self.away_since = None

    async def __call__(self, broker):
        db = connect(self.database)
        try:
            while True:
                try:
                    late = self.round(db, broker.is_connected)
                except sqlite3.OperationalError as exc:  # locked past busy_timeout: the next round
                    log.warning("deadline check put off", extra={"error": repr(exc)})
                    late = 0
                if late:
                    outbox.wake(self.database)
                    log.warning("overdue saga steps handled", extra={"count": late})
                await asyncio.sleep(self.every)
        finally:
            self.away_since = self.away_since or time.time()  # this connection is gone
            db.close()

    def round(self, db, connected):
        """One round: the clock stopped while away, started again once back; the late steps
        decided. How many were."""
        if not connected:
            self.away_since = self.away_since or time.time()
            return 0
        if not self.resumed:
            with write_transaction(db):
                self.style.resume(db)
            self.resumed, self.away_since = True, None
        elif self.away_since is not None:
            away = time.time() - self.away_since
            with write_transaction(db):
                self.style.postpone(db, away)
            self.away_since = None
            log.info("saga deadlines postponed", extra={"seconds_away": round(away, 2)})
        with write_transaction(db):
            return self.style.overdue(db)
