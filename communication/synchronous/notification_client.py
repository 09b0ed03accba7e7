"""order-service's synchronous call to notification-service, for one comparison only.

With NOTIFY=rest, order-service tells notification-service about an order inside the order's
own request, as the outline's "REST: tight coupling" would: when notification-service is down or
slow, the order fails or waits. The default, NOTIFY=events, writes an outbox row instead
(communication/asynchronous/outbox.py). docs/messaging.md sets the two side by side.
"""

import requests

from discovery.locators import NoInstanceAvailable


class NotificationFailed(Exception):
    """notification-service did not take the notification."""


class NotificationClient:
    def __init__(self, locator, timeout=(1.0, 3.0)):
        self.locator = locator
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False

    def notify(self, body, headers):
        try:
            response = self.session.post(
                f"{self.locator.base_url()}/notifications", json=body, headers=headers, timeout=self.timeout
            )
        except (NoInstanceAvailable, requests.RequestException) as exc:
            raise NotificationFailed(f"notification-service unreachable ({type(exc).__name__})") from None
        if response.status_code != 201:
            raise NotificationFailed(f"notification-service answered {response.status_code}")
