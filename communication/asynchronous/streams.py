"""The streams: where each kind of message is kept, and for how long.

ORDERS and CREDIT keep every event (limits retention: fan-out to any number of durable
consumers, and replay of the history): the outline's event-driven row. COMMANDS is a work queue
(work-queue retention: a command is gone once handled): the message-queue row. REPLIES carries
the answers to commands back to the orchestrator; DEADLETTER keeps what a consumer gave up on.
NATS_REPLICAS copies each stream to that many servers of a cluster (1 for one server).
"""

import os

from nats.js.api import RetentionPolicy, StorageType, StreamConfig

WEEK = 7 * 24 * 3600
# JetStream drops a message whose Nats-Msg-Id it has seen within this window: a relay that
# publishes a row again (it crashed before marking it sent) makes no duplicate.
DUPLICATE_WINDOW = 600


def replicas():
    return int(os.getenv("NATS_REPLICAS", "1"))


def limits_stream(name, subjects, retention=RetentionPolicy.LIMITS):
    return StreamConfig(
        name=name,
        subjects=subjects,
        retention=retention,
        storage=StorageType.FILE,
        max_age=WEEK,
        duplicate_window=DUPLICATE_WINDOW,
        num_replicas=replicas(),
    )


def orders():
    return limits_stream("ORDERS", ["orders.>"])


def deadletter():
    return limits_stream("DEADLETTER", ["deadletter.>"])


def credit():
    return limits_stream("CREDIT", ["credit.>"])


def commands():
    return limits_stream("COMMANDS", ["commands.>"], retention=RetentionPolicy.WORK_QUEUE)


def replies():
    return limits_stream("REPLIES", ["replies.>"])


def every_stream():
    """What every service ensures at connect (the same configuration, whoever comes first)."""
    return [orders(), credit(), commands(), replies(), deadletter()]


# Message type -> subject: "order.created" is published on "orders.created".
SUBJECTS = {
    "order.created": "orders.created",
    "order.approved": "orders.approved",
    "order.rejected": "orders.rejected",
    "order.cancelled": "orders.cancelled",
    "credit.reserved": "credit.reserved",
    "credit.limit_exceeded": "credit.limit_exceeded",
    "credit.released": "credit.released",
    "reserve_credit": "commands.user.reserve_credit",
    "release_credit": "commands.user.release_credit",
    "credit.reply": "replies.order-service",
}


def subject_of(event_type):
    return SUBJECTS[event_type]
