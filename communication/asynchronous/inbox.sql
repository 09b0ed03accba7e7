-- The idempotent consumer's memory: the id of every event handled, written in the same
-- transaction as what handling it changed, so an event delivered twice changes nothing twice.
CREATE TABLE IF NOT EXISTS processed_events (
    event_id TEXT NOT NULL,
    consumer TEXT NOT NULL,
    processed_at REAL NOT NULL,
    PRIMARY KEY (event_id, consumer)
);
