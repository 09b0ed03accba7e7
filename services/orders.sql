-- order-service's database (the doc's DB2).
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    item TEXT NOT NULL,
    -- Stored in the order's own row, so an order and its key are written together or not at all.
    idempotency_key TEXT UNIQUE,
    request_hash TEXT
);
