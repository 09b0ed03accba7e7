"""Fuzz both APIs from their OpenAPI documents (schemathesis): whatever comes in, the answer is
JSON with a status below 500, it matches the document, and nothing half-valid is stored."""

import sqlite3

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from services import notifications, orders, users

from .conftest import FakeUserClient, unused

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture(scope="module")
def user_app(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AUTH_SECRET", "fuzz-" + "k" * 40)  # so /auth/token is fuzzed for real, not answered 503
        yield users.create_app({"TESTING": True, "DATABASE": str(tmp_path_factory.mktemp("fuzz") / "users.sqlite3")})


@pytest.fixture(scope="module")
def order_app(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("fuzz") / "orders.sqlite3")
    return orders.create_app(find=unused, test_config={"TESTING": True, "DATABASE": path}, user_client=FakeUserClient())


@pytest.fixture(scope="module")
def notification_app(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("fuzz") / "notifications.sqlite3")
    # MAX_WAIT 1: a generated ?wait=30 on an empty database would otherwise wait 30 s each time.
    return notifications.create_app(find=unused, test_config={"TESTING": True, "DATABASE": path, "MAX_WAIT": 1})


def call_and_check(case):
    response = case.call()
    assert response.status_code < 500, response.text
    assert response.headers["content-type"][0].startswith("application/json")
    # Every default check, but one: a schema-valid order can still name a user that does not
    # exist, and the documented answer to that is 422.
    case.validate_response(response, excluded_checks=[schemathesis.checks.positive_data_acceptance])


def rows(app, table):
    with sqlite3.connect(app.config["DATABASE"]) as conn:
        return conn.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - fixed table names


def fuzz(app, stored_rows_are_valid):
    """Every operation of the app's own OpenAPI document: valid and invalid generated requests.

    (Driven through hypothesis directly: schemathesis' pytest plugin does not load under pytest 9.)
    """
    operations = [op.ok() for op in schemathesis.openapi.from_wsgi("/openapi.json", app).get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ
            @given(operation.as_strategy(generation_mode=mode))
            def check(case):
                call_and_check(case)
                stored_rows_are_valid()

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # an operation without inputs has no invalid request
    return operations


def test_user_api(user_app):
    def valid():
        for _, name in rows(user_app, "users"):
            assert isinstance(name, str) and 1 <= len(name) <= 100 and name == name.strip()

    fuzz(user_app, valid)


def test_order_api(order_app):
    def valid():
        for _, user_id, item, *_ in rows(order_app, "orders"):
            assert user_id == 1  # the only user the stand-in user-service knows
            assert isinstance(item, str) and 1 <= len(item) <= 200

    fuzz(order_app, valid)


def test_notification_api(notification_app):
    def valid():
        for row in rows(notification_app, "notifications"):
            assert row[1] >= 1 and row[2] >= 1 and row[4]  # user_id, order_id, message

    fuzz(notification_app, valid)
