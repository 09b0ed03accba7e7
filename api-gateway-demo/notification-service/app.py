"""notification-service, gateway demo: the gateway routes /notifications to it; the broker is at NATS_URL."""

from discovery.locators import through_gateway
from services.notifications import create_app

app = create_app(find=through_gateway)
