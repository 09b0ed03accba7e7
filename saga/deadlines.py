"""Deadlines: a saga's step that had no answer in time is not left waiting.

A broker task of order-service's messaging process (saga styles both): every half second, in one
transaction, the style's `overdue` decides what the late steps become. After a restart it finds
whatever the crash left overdue, so nothing stays PENDING past its deadline.
"""

import asyncio
import logging
import sqlite3

from communication.asynchronous import outbox
from servicekit.db import connect

log = logging.getLogger("saga")


class DeadlineWatcher:
    def __init__(self, database, overdue, every=0.5):
        self.database = database
        self.overdue = overdue
        self.every = every

    async def __call__(self, broker):
        db = connect(self.database)
        try:
            while True:
                try:
                    late = self.check(db)
                except sqlite3.OperationalError as exc:  # locked past busy_timeout: the next round
                    log.warning("deadline check put off", extra={"error": repr(exc)})
                    late = 0
                if late:
                    outbox.wake(self.database)
                    log.warning("overdue saga steps handled", extra={"count": late})
                await asyncio.sleep(self.every)
        finally:
            db.close()

    def check(self, db):
        """One round, one transaction: how many late steps were decided."""
        db.execute("BEGIN IMMEDIATE")
        try:
            late = self.overdue(db)
        except BaseException:
            db.rollback()
            raise
        db.commit()
        return late
