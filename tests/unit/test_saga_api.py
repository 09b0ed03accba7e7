"""The saga's API without a broker: what is accepted, what is refused, and the doc's outputs kept."""

import pytest

from services import orders, users

from .conftest import unused


@pytest.fixture
def saga_orders(tmp_path, fake_users):
    """order-service with a saga on (no worker starts, so no broker is asked)."""
    config = {"TESTING": True, "DATABASE": str(tmp_path / "orders.sqlite3"), "SAGA": "orchestration"}
    return orders.create_app(find=unused, test_config=config, user_client=fake_users).test_client()


@pytest.mark.parametrize(
    "amount, message",
    [
        (-5, "'amount' must be between 0.01 and 1,000,000"),
        (0, "'amount' must be between 0.01 and 1,000,000"),
        ("60", "'amount' must be a number"),
        (True, "'amount' must be a number"),
        (10**12, "'amount' must be between 0.01 and 1,000,000"),
        (60.125, "'amount' must have at most two decimals"),
    ],
)
def test_bad_amounts_are_422(saga_orders, amount, message):
    response = saga_orders.post("/orders", json={"user_id": 1, "item": "Book", "amount": amount})
    assert response.status_code == 422 and response.json == {"error": message}


@pytest.mark.parametrize(
    "limit, message",
    [
        (-1, "'credit_limit' must be between 0 and 1,000,000,000"),
        ("100", "'credit_limit' must be a number"),
        (None, None),
        (10**10, "'credit_limit' must be between 0 and 1,000,000,000"),
    ],
)
def test_credit_limits(user_client, limit, message):
    body = {"name": "Alice"} if limit is None else {"name": "Alice", "credit_limit": limit}
    response = user_client.post("/users", json=body)
    if message is None:
        assert response.status_code == 201 and response.json == {"id": 1, "name": "Alice"}  # the doc's output
    else:
        assert response.status_code == 422 and response.json == {"error": message}


def test_a_user_with_a_limit_shows_it_and_their_credit(user_client):
    created = user_client.post("/users", json={"name": "Alice", "credit_limit": 100})
    assert created.json == {"id": 1, "name": "Alice", "credit_limit": 100}
    assert user_client.get("/users/1").json == {"id": 1, "name": "Alice"}  # the doc's GET stays the same
    assert user_client.get("/users/1/credit").json == {
        "user_id": 1,
        "credit_limit": 100,
        "reserved": 0,
        "available": 100,
    }
    assert user_client.get("/users/2/credit").status_code == 404


def test_an_order_with_an_amount_is_pending_and_202(saga_orders):
    response = saga_orders.post("/orders", json={"user_id": 1, "item": "Book", "amount": 60})
    assert response.status_code == 202 and response.headers["Location"] == "/orders/1"
    assert response.json == {"id": 1, "user_id": 1, "item": "Book", "amount": 60, "state": "PENDING"}
    saga = saga_orders.get("/sagas/1").json
    assert saga["state"] == "RESERVING_CREDIT" and [s["step"] for s in saga["steps"]] == [
        "started",
        "reserve_credit sent",
    ]
    # The doc's order (no amount) is still the synchronous one.
    assert saga_orders.post("/orders", json={"user_id": 1, "item": "Pen"}).json == {
        "id": 2,
        "user_id": 1,
        "item": "Pen",
    }


def test_cancelling_anything_but_an_approved_order_is_409(saga_orders):
    saga_orders.post("/orders", json={"user_id": 1, "item": "Book", "amount": 60})
    saga_orders.post("/orders", json={"user_id": 1, "item": "Pen"})
    pending = saga_orders.post("/orders/1/cancel")
    assert pending.status_code == 409
    assert pending.json == {"error": "order 1 is PENDING: only an approved order can be cancelled"}
    no_saga = saga_orders.post("/orders/2/cancel")
    assert no_saga.status_code == 409 and "has no amount and no saga" in no_saga.json["error"]
    assert saga_orders.post("/orders/99/cancel").status_code == 404
    unknown = saga_orders.get("/sagas/99")
    assert unknown.status_code == 404 and unknown.json == {"error": "saga 99 not found"}


def test_without_a_saga_an_amount_is_422(order_client):
    response = order_client.post("/orders", json={"user_id": 1, "item": "Book", "amount": 60})
    assert response.status_code == 422 and "needs a saga" in response.json["error"]


def test_wait_is_bounded(saga_orders):
    saga_orders.post("/orders", json={"user_id": 1, "item": "Book", "amount": 60})
    assert saga_orders.get("/orders/1?wait=11").status_code == 422
    assert saga_orders.get("/orders/1?wait=0").json["state"] == "PENDING"


def test_users_app_with_saga_off_needs_no_broker(tmp_path):
    app = users.create_app({"TESTING": True, "DATABASE": str(tmp_path / "u.sqlite3")})
    assert app.config["SAGA"] == "off"


def test_a_release_nobody_answers_is_asked_again_each_time_after_a_longer_wait(saga_orders):
    """user-service down for long: the orchestrator keeps asking (a compensation must happen),
    but a command every few minutes at most, not one per step."""
    from saga import orchestrator
    from servicekit.db import get_db

    assert saga_orders.post("/orders", json={"user_id": 1, "item": "Book", "amount": 20}).status_code == 202
    waits, now = [], 1e10  # far past the reserve's deadline
    with saga_orders.application.app_context():
        db = get_db()
        for _ in range(8):
            with db:
                assert orchestrator.overdue(db, now) == 1
            deadline = db.execute("SELECT step_deadline FROM sagas WHERE id = 1").fetchone()[0]
            waits.append(round(deadline - now))
            now = deadline + 1
        sent = db.execute("SELECT COUNT(*) FROM outbox WHERE type = 'release_credit'").fetchone()[0]
    assert waits == [10, 20, 40, 80, 160, 320, 320, 320]  # SAGA_STEP_SECONDS 10: the first, then doubling
    assert sent == 8
    steps = saga_orders.get("/sagas/1").json["steps"]
    assert steps[-1]["detail"] == "reply due within 320 s"


@pytest.mark.parametrize("style", ["choreography", "orchestration"])
def test_a_step_gets_its_time_back_after_a_restart_or_an_outage(tmp_path, fake_users, style):
    """After a restart (resume) a step whose deadline passed meanwhile gets a full step from then;
    after an outage (postpone) its deadline moves by the time away; neither shortens a longer wait."""
    from saga import choreography, orchestrator
    from servicekit.db import get_db

    config = {"TESTING": True, "DATABASE": str(tmp_path / "orders.sqlite3"), "SAGA": style}
    app = orders.create_app(find=unused, test_config=config, user_client=fake_users)
    assert app.test_client().post("/orders", json={"user_id": 1, "item": "Book", "amount": 20}).status_code == 202
    saga_style = choreography if style == "choreography" else orchestrator
    table, column = ("order_states", "deadline") if style == "choreography" else ("sagas", "step_deadline")
    with app.app_context():
        db = get_db()

        def deadline():
            return db.execute(f"SELECT {column} FROM {table}").fetchone()[0]

        with db:
            db.execute(f"UPDATE {table} SET {column} = 1")  # long past, as after a night down
            saga_style.resume(db, 1000.0)  # SAGA_STEP_SECONDS 10, from then
        assert deadline() == 1010.0
        with db:
            saga_style.resume(db, 500.0)  # a longer wait stays
        assert deadline() == 1010.0
        with db:
            saga_style.postpone(db, 25.5)
        assert deadline() == 1035.5
        with db:
            assert saga_style.overdue(db, 1035.0) == 0
        with db:
            assert saga_style.overdue(db, 1036.0) == 1
        assert db.execute("SELECT state FROM order_states").fetchone()[0] == "REJECTED"


def test_credit_is_reserved_once_released_once_and_a_release_first_refuses_the_reservation(tmp_path):
    """user-service's side, as saga/credit.sql says: keyed by order, the same request twice
    reserves once; a release that comes before its reservation leaves a mark that refuses it."""
    from contextlib import closing

    from communication.asynchronous import outbox
    from saga import credit
    from servicekit.db import connect, init_db

    path = str(tmp_path / "users.sqlite3")
    init_db(path, [users.SCHEMA, outbox.SCHEMA, credit.SCHEMA])
    with closing(connect(path)) as db, db:
        db.execute("INSERT INTO users (id, name) VALUES (1, 'Alice')")
        db.execute("INSERT INTO credit_limits (user_id, limit_cents) VALUES (1, 10000)")
        assert credit.reserve(db, 1, 1, 6000) == "Alice"
        assert credit.reserve(db, 1, 1, 6000) == "Alice"  # asked again: still one reservation
        assert credit.available(db, 1) == (10000, 6000)
        with pytest.raises(credit.Declined, match="credit limit exceeded: 80 asked, 40 of 100 available"):
            credit.reserve(db, 2, 1, 8000)
        assert credit.release(db, 1, 1) is True and credit.release(db, 1, 1) is False  # once
        assert credit.available(db, 1) == (10000, 0)
        assert credit.release(db, 3, 1) is False  # nothing held yet: a mark
        with pytest.raises(credit.Declined, match="cancelled before its credit was reserved"):
            credit.reserve(db, 3, 1, 1000)
        with pytest.raises(credit.Declined, match="user 7 does not exist"):
            credit.reserve(db, 4, 7, 1000)


def test_cancelling_a_rejected_or_a_cancelled_order_is_409(saga_orders):
    """The orchestrator's replies drive the order (no broker here): one approved then cancelled
    twice, one rejected at its deadline; only an APPROVED order can be cancelled."""
    from types import SimpleNamespace

    from saga import orchestrator
    from servicekit.db import get_db

    for item in ("Book", "Lamp"):
        assert saga_orders.post("/orders", json={"user_id": 1, "item": item, "amount": 20}).status_code == 202
    with saga_orders.application.app_context():
        db = get_db()
        reply = {"saga_id": 1, "order_id": 1, "command": "reserve_credit", "outcome": "reserved", "user_name": "A"}
        with db:
            orchestrator.on_reply(db, SimpleNamespace(data=reply, request_id=None))
        with db:  # order 2's reserve has no answer: past its deadline it is REJECTED
            db.execute("UPDATE sagas SET step_deadline = 0 WHERE order_id = 2")
            assert orchestrator.overdue(db) == 1
    assert saga_orders.post("/orders/1/cancel").json["state"] == "CANCELLED"
    again, rejected = saga_orders.post("/orders/1/cancel"), saga_orders.post("/orders/2/cancel")
    assert again.status_code == 409 and again.json["error"].startswith("order 1 is CANCELLED")
    assert rejected.status_code == 409 and rejected.json["error"].startswith("order 2 is REJECTED")
