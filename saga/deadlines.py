"""Deadlines: a saga's step that had no answer in time is not left waiting.

A broker task of order-service's messaging process (saga styles both): every half second, in one
transaction, the style's `overdue` decides what the late steps become. It decides only while
the broker is connected: until then a step's request may still sit in the outbox, its answer in
the stream. So on every (re)connect, and after a restart, the style's `resume` first gives each
waiting step a full step from then; what is still unanswered after it is decided.
"""

import asyncio
import logging
import sqlite3

from communication.asynchronous import outbox
from servicekit.db import connect

log = logging.getLogger("saga")


class DeadlineWatcher:
    def __init__(self, database, style, every=0.5):
        """`style`: the saga style's module, with `overdue(db)` and `resume(db)`."""
        self.database = database
        self.style = style
        self.every = every

    async def __call__(self, broker):
        db = connect(self.database)
        resumed = False
        try:
            while True:
                try:
                    if not broker.is_connected:
                        resumed, late = False, 0
                    else:
                        if not resumed:
                            self.in_one_transaction(db, self.style.resume)
                            resumed = True
                        late = self.in_one_transaction(db, self.style.overdue)
                except sqlite3.OperationalError as exc:  # locked past busy_timeout: the next round
                    log.warning("deadline check put off", extra={"error": repr(exc)})
                    late = 0
                if late:
                    outbox.wake(self.database)
                    log.warning("overdue saga steps handled", extra={"count": late})
                await asyncio.sleep(self.every)
        finally:
            db.close()

    @staticmethod
    def in_one_transaction(db, step):
        """`step(db)` in one transaction (holding the write lock from the start); its result."""
        db.execute("BEGIN IMMEDIATE")
        try:
            result = step(db)
        except BaseException:
            db.rollback()
            raise
        db.commit()
        return result
