-- order-service's side of the order saga: an order with an amount has a state here (the orders
-- table stays the doc's), and with orchestration a saga instance with its step log.
CREATE TABLE IF NOT EXISTS order_states (
    order_id INTEGER PRIMARY KEY REFERENCES orders (id),
    amount_cents INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED')),
    reason TEXT,
    style TEXT NOT NULL CHECK (style IN ('choreography', 'orchestration')),
    user_name TEXT,
    deadline REAL,        -- a PENDING order not decided by then is rejected (and its credit released)
    compensation TEXT CHECK (compensation IN ('pending', 'done')),  -- a release asked for, and answered
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS order_states_pending ON order_states (deadline) WHERE state = 'PENDING';
CREATE TABLE IF NOT EXISTS sagas (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL UNIQUE REFERENCES orders (id),
    state TEXT NOT NULL,  -- RESERVING_CREDIT, APPROVED, COMPENSATING, REJECTED, CANCELLING, CANCELLED
    step_deadline REAL,   -- when the step under way must have had its reply
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sagas_waiting ON sagas (step_deadline) WHERE step_deadline IS NOT NULL;
CREATE TABLE IF NOT EXISTS saga_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    saga_id INTEGER NOT NULL REFERENCES sagas (id),
    step TEXT NOT NULL,   -- what happened: "reserve_credit sent", "credit reserved", ...
    detail TEXT,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS saga_steps_by_saga ON saga_steps (saga_id, id);
