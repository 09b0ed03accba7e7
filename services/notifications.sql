-- notification-service's database: what it told whom. That an event makes one notification
-- however often it arrives is the consumer's processed_events' job (no second guard here, so
-- the tests would see a duplicate if it failed).
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    order_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    event_id TEXT,
    request_id TEXT,
    event_time REAL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_by_user ON notifications (user_id, id);
