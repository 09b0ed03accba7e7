"""Unit fixtures, flaskr-style: an app per test with a temporary database."""

import pytest

from discovery.locators import FixedLocator
from services import orders, users


class FakeUserClient:
    """Stands in for user-service in unit tests only (integration tests use the real one)."""

    def __init__(self):
        self.users = {1: {"id": 1, "name": "Alice"}}
        self.down = False
        self.calls = 0

    def get_user(self, user_id, headers=None):
        from communication.synchronous.user_client import UserServiceUnavailable

        self.calls += 1
        if self.down:
            raise UserServiceUnavailable("user-service unreachable (test)")
        return self.users.get(user_id)

    def health(self):
        return {"user_service_circuit": "closed"}

    def reachable(self):
        return "unreachable (test)" if self.down else None


def unused(service):
    """Unit tests start no worker, so no locator is ever asked; this one says so if it is."""
    return FixedLocator(f"http://{service}.unused.invalid")


@pytest.fixture
def user_app(tmp_path):
    return users.create_app({"TESTING": True, "DATABASE": str(tmp_path / "users.sqlite3")})


@pytest.fixture
def user_client(user_app):
    return user_app.test_client()


@pytest.fixture
def fake_users():
    return FakeUserClient()


@pytest.fixture
def order_app(tmp_path, fake_users):
    test_config = {"TESTING": True, "DATABASE": str(tmp_path / "orders.sqlite3")}
    return orders.create_app(find=unused, test_config=test_config, user_client=fake_users)


@pytest.fixture
def order_client(order_app):
    return order_app.test_client()
