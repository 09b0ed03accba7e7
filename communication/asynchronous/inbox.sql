-- The idempotent consumer's memory: the id of every event handled, written in the same
-- transaction as what handling it changed, so an event delivered twice changes nothing twice.
CREATE TABLE IF NOT EXISTS processed_events (
    event_id TEXT NOT NULL,
    consumer TEXT NOT NULL,
    processed_at REAL NOT NULL,
    PRIMARY KEY (event_id, consumer)
);

-- What each consumer did with what it got, since the database was made: handled and duplicates
-- counted in the events' own transaction, retried and dead_lettered as they happen. In the
-- database, so every worker's /health shows the same figures.
CREATE TABLE IF NOT EXISTS consumer_counts (
    consumer TEXT PRIMARY KEY,
    handled INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    retried INTEGER NOT NULL DEFAULT 0,
    dead_lettered INTEGER NOT NULL DEFAULT 0
);
