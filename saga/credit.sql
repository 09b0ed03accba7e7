-- user-service's side of the order saga: each user's credit limit and the credit reserved for
-- orders. A reservation is keyed by its order, so the same request twice reserves once; a release
-- that comes first leaves a 'released' row, so a late reservation for that order is refused.
CREATE TABLE IF NOT EXISTS credit_limits (
    user_id INTEGER PRIMARY KEY REFERENCES users (id),
    limit_cents INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS credit_reservations (
    order_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    amount_cents INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('reserved', 'released')),
    created_at REAL NOT NULL,
    released_at REAL
);
CREATE INDEX IF NOT EXISTS credit_reserved_by_user ON credit_reservations (user_id) WHERE state = 'reserved';
