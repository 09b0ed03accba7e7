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
    assert saga_orders.get("/sagas/99").json == {"error": "saga 99 not found"}


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
