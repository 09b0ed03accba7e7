"""order-service, gateway demo: finds user-service through the gateway.

It calls GET {GATEWAY_URL}/users/<id> and the gateway routes that to user-service.
"""

from discovery.locators import through_gateway
from services.orders import create_app

app = create_app(find=through_gateway)
