"""order-service's one call to user-service, with timeouts; *where* to call is the locator's job."""

import os

import requests

from .locators import NoInstanceAvailable
from .web import REQUEST_ID_HEADER, current_request_id


class UserServiceUnavailable(Exception):
    """user-service could not answer: no instance, refused, timed out, or answered 5xx."""


class UserClient:
    def __init__(self, locator, connect_timeout=None, read_timeout=None):
        self.locator = locator
        self.timeout = (
            float(connect_timeout or os.environ.get("USER_SERVICE_CONNECT_TIMEOUT", 1.0)),
            float(read_timeout or os.environ.get("USER_SERVICE_READ_TIMEOUT", 3.0)),
        )
        # One session per process: connections to user-service (or the gateway) are reused.
        self.session = requests.Session()

    def get_user(self, user_id):
        """The user as a dict, or None if user-service says there is no such user."""
        try:
            base_url = self.locator.base_url()
        except NoInstanceAvailable as exc:
            raise UserServiceUnavailable(str(exc)) from None
        headers = {}
        if current_request_id():
            headers[REQUEST_ID_HEADER] = current_request_id()
        try:
            response = self.session.get(f"{base_url}/users/{user_id}", headers=headers, timeout=self.timeout)
        except requests.Timeout:
            raise UserServiceUnavailable(f"user-service did not answer within {self.timeout[1]}s") from None
        except requests.RequestException:
            raise UserServiceUnavailable(f"user-service unreachable at {base_url}") from None
        if response.status_code == 200:
            return response.json()
        if response.status_code == 404:
            return None
        raise UserServiceUnavailable(f"user-service answered {response.status_code}")
