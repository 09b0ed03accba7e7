"""order-service API against a stand-in user-service: validation, 503 with nothing written, idempotency."""

import sqlite3

import pytest


def test_order_for_alice(order_client):
    response = order_client.post("/orders", json={"user_id": 1, "item": "Book"})
    assert response.status_code == 201
    assert response.get_json() == {"id": 1, "user_id": 1, "item": "Book"}
    assert order_client.get("/orders/1").get_json() == {"id": 1, "user_id": 1, "item": "Book"}
    assert order_client.get("/orders").get_json() == [{"id": 1, "user_id": 1, "item": "Book"}]


def test_unknown_user_is_422_and_writes_nothing(order_client):
    response = order_client.post("/orders", json={"user_id": 99, "item": "Book"})
    assert response.status_code == 422
    assert response.get_json() == {"error": "user 99 does not exist"}
    assert order_client.get("/orders").get_json() == []


def test_user_service_down_is_503_and_writes_nothing(order_client, fake_users):
    fake_users.down = True
    response = order_client.post("/orders", json={"user_id": 1, "item": "Book"})
    assert response.status_code == 503
    assert "cannot check the user" in response.get_json()["error"]
    assert order_client.get("/orders").get_json() == []


@pytest.mark.parametrize(
    "body, message",
    [
        ({"item": "Book"}, "'user_id' is required"),
        ({"user_id": "1", "item": "Book"}, "'user_id' must be an integer"),
        ({"user_id": 1.5, "item": "Book"}, "'user_id' must be an integer"),
        ({"user_id": True, "item": "Book"}, "'user_id' must be an integer"),
        ({"user_id": 0, "item": "Book"}, "between 1 and"),
        ({"user_id": -3, "item": "Book"}, "between 1 and"),
        ({"user_id": 2**63, "item": "Book"}, "between 1 and"),
        ({"user_id": 1}, "'item' is required"),
        ({"user_id": 1, "item": ""}, "must not be empty"),
        ({"user_id": 1, "item": ["Book"]}, "must be a string"),
        ({"user_id": 1, "item": "x" * 201}, "at most 200"),
        ({"user_id": 1, "item": "Book", "amount": None}, "'amount' must be a number"),
    ],
)
def test_bad_orders_are_422_and_never_reach_user_service(order_client, fake_users, body, message):
    response = order_client.post("/orders", json=body)
    assert response.status_code == 422
    assert message in response.get_json()["error"]
    assert fake_users.calls == 0
    assert order_client.get("/orders").get_json() == []


def test_same_idempotency_key_returns_the_first_order(order_client, fake_users):
    headers = {"Idempotency-Key": "k-1"}
    first = order_client.post("/orders", json={"user_id": 1, "item": "Book"}, headers=headers)
    again = order_client.post("/orders", json={"user_id": 1, "item": "Book"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(order_client.get("/orders").get_json()) == 1
    assert fake_users.calls == 1  # the replay did not even ask user-service


def test_same_key_different_body_is_422(order_client):
    headers = {"Idempotency-Key": "k-2"}
    order_client.post("/orders", json={"user_id": 1, "item": "Book"}, headers=headers)
    response = order_client.post("/orders", json={"user_id": 1, "item": "Pen"}, headers=headers)
    assert response.status_code == 422
    assert "different request body" in response.get_json()["error"]
    assert len(order_client.get("/orders").get_json()) == 1


@pytest.mark.parametrize("query", ["?wait=%C2%B2", "?wait=%D9%A1", "?wait=" + "1" * 5000, "?since=1", "?wait=0&wait=5"])
def test_a_query_parameter_is_ascii_digits_and_known_or_422(order_client, query):
    order_client.post("/orders", json={"user_id": 1, "item": "Book"})
    response = order_client.get(f"/orders/1{query}")
    assert response.status_code == 422 and response.is_json


def test_a_summary_of_user_0_is_404_and_never_asks_user_service(order_client, fake_users):
    """Over gRPC user-service refuses id 0 (INVALID_ARGUMENT): a failed call, and enough of them
    would open the breaker for every order."""
    response = order_client.get("/users/0/summary")
    assert response.status_code == 404 and response.get_json() == {"error": "user 0 not found"}
    assert fake_users.calls == 0


def test_unknown_order_is_404_json(order_client):
    response = order_client.get("/orders/5")
    assert response.status_code == 404
    assert response.get_json() == {"error": "order 5 not found"}


def test_a_database_held_by_another_write_is_503_busy_and_writes_nothing(order_client, order_app):
    """Another writer holding the lock past busy_timeout (NOTIFY=rest holds it across its call)
    is a 503 to try again, not a 500."""
    holder = sqlite3.connect(order_app.config["DATABASE"])
    try:
        holder.execute("BEGIN IMMEDIATE")
        response = order_client.post("/orders", json={"user_id": 1, "item": "Book"})
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json() == {"error": "busy: another write holds the database; try again"}
    assert order_client.get("/orders").get_json() == []
