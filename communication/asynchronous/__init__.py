"""Messages through a broker (NATS JetStream): the caller does not wait for the callee.

broker.py     one connection per process, on its own thread and event loop, reconnecting by itself
streams.py    the streams, their subjects, and which event goes where
events.py     the message envelope: id (= Nats-Msg-Id), type, time, data, X-Request-ID
outbox.py     the transactional outbox: an event is a row written with the business change, and a
              relay (one per database) publishes unsent rows in order
consumer.py   a durable consumer: idempotent (event ids stored with the effect), dead-letters what
              it cannot handle, never stuck on one message
replay.py     a second, independent subscriber that reads a stream's history (`make events`)
"""
