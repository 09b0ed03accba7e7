-- The transactional outbox: an event is written in the same transaction as the change it tells
-- of, so there is never an order without its event, nor an event without its order. The relay
-- publishes unsent rows in id order and stamps sent_at; sent rows stay, to be looked at.
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,  -- a fresh uuid4, never looked up here: no index to update per order
    type TEXT NOT NULL,
    subject TEXT NOT NULL,
    body BLOB NOT NULL,
    request_id TEXT,
    created_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
