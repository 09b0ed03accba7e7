"""A second, independent subscriber, added after the fact: it reads a stream's whole history.

    python -m communication.asynchronous.replay [--server nats://127.0.0.1:4222] [--stream ORDERS]

It did not exist when the events were published; JetStream kept them (limits retention), so a
new consumer reads them all from the first (replay) while notification-service's own durable
consumer goes on undisturbed (fan-out). `make events` runs it against the running demo.
"""

import argparse
import asyncio
import json
import sys

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from .events import Malformed, decode


async def history(server, stream):
    """[(sequence, subject, event data)] of every message in `stream`, oldest first."""
    nc = await asyncio.wait_for(nats.connect(server, connect_timeout=2, max_reconnect_attempts=1), 10)
    try:
        js = nc.jetstream()
        if not (await js.stream_info(stream)).state.messages:
            return []  # empty, or purged: nothing to wait for
        # An ephemeral consumer of its own, from the first message, nothing to acknowledge.
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30)
        subscription = await js.pull_subscribe(">", stream=stream, config=config)
        seen, pending = [], None
        while pending != 0:  # until the consumer has nothing more (not up to the last sequence: it may be gone)
            for message in await subscription.fetch(100, timeout=5):
                try:
                    data = decode(message.data, message.headers).data
                except Malformed as exc:
                    data = {"not an event": str(exc)}
                seen.append((message.metadata.sequence.stream, message.subject, data))
                pending = message.metadata.num_pending
        return seen
    finally:
        await nc.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="nats://127.0.0.1:4222")
    parser.add_argument("--stream", default="ORDERS")
    args = parser.parse_args(argv)
    try:
        events = asyncio.run(history(args.server, args.stream))
    except Exception as exc:  # no broker, no stream: one line, not a traceback
        print(f"cannot read {args.stream} at {args.server}: {type(exc).__name__} {exc}", file=sys.stderr)
        return 1
    print(f"{args.stream}: {len(events)} message(s), read from the first by a new subscriber")
    for sequence, subject, data in events:
        print(f"{sequence:>5}  {subject:<16} {json.dumps(data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
