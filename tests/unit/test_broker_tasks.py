"""The broker's supervision of its tasks, on its own event loop with the connection left out:
when one task fails, all of them end and start again, however busy the others are."""

import asyncio
import random
import time
from types import SimpleNamespace

from communication.asynchronous import broker as broker_module
from communication.asynchronous import outbox
from communication.asynchronous.broker import Broker, ended
from communication.asynchronous.events import Event
from servicekit.db import connect, init_db


class OneServer:
    def urls(self):
        return ["nats://unused.invalid"]


def test_a_failing_task_restarts_them_all_while_orders_keep_waking_the_relay(tmp_path, monkeypatch):
    """A wake-up landing as the relay is cancelled used to keep it running (Python 3.11's
    wait_for ignores such a cancel); the broker then waited for it forever, its other tasks
    gone, orders' replies unread. Within 1 to 3 restarts, before it cancelled until all ended."""
    monkeypatch.setattr(broker_module, "MAX_BACKOFF", 0.05)
    database = str(tmp_path / "orders.sqlite3")
    init_db(database, [outbox.SCHEMA])
    rng = random.Random(0)
    restarts = []

    async def publish_async(subject, body, headers):
        acked = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.0005, acked.set_result, None)  # NATS's ack, 0.5 ms on
        return acked

    async def connect_fake(servers):
        restarts.append(time.monotonic())
        broker.nc = SimpleNamespace(is_closed=False)
        broker.js = SimpleNamespace(publish_async=publish_async)
        broker._connected.set()

    async def nothing():
        pass

    async def never_lost():
        await asyncio.Event().wait()

    async def failing_sibling(_broker):
        await asyncio.sleep(rng.uniform(0.02, 0.1))
        raise RuntimeError("a sibling task failed")

    broker = Broker(OneServer(), database, streams=[])
    broker._connect, broker._close, broker._lost = connect_fake, nothing, never_lost
    broker.run(outbox.Relay(database))
    broker.run(failing_sibling)

    async def main():
        broker._connected = asyncio.Event()
        supervisor = asyncio.ensure_future(broker._stay_connected())
        writer = connect(database)
        deadline = time.monotonic() + 30
        try:
            while len(restarts) < 40 and time.monotonic() < deadline:  # an order every 2 ms
                with writer:
                    outbox.add(writer, Event("order.created", {"order_id": 1}))
                outbox.wake(database)
                await asyncio.sleep(0.002)
        finally:
            writer.close()
            supervisor.cancel()
            await asyncio.wait([supervisor], timeout=5)
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert len(restarts) >= 40, f"the broker stopped restarting its tasks after {len(restarts)}"


def test_ended_cancels_again_a_task_that_ran_on_and_keeps_every_outcome_in_order():
    async def ran_on():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass  # as 3.11's wait_for may, when what it waits for completes just then
        await asyncio.sleep(30)

    async def fails_on_its_way_out():
        try:
            await asyncio.sleep(30)
        finally:
            raise RuntimeError("cleanup failed")

    async def finished():
        return None

    async def main():
        tasks = [asyncio.ensure_future(task()) for task in (ran_on, fails_on_its_way_out, finished)]
        await asyncio.sleep(0.01)
        async with asyncio.timeout(10):
            return await ended(tasks)

    first, second, third = asyncio.run(main())
    assert isinstance(first, asyncio.CancelledError)
    assert isinstance(second, RuntimeError) and third is None
