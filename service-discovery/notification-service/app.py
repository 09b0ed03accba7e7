"""notification-service, discovery demo: registers with Consul, and finds the broker there."""

from discovery.locators import through_consul
from discovery.registration import register_with_consul
from services.notifications import create_app

app = register_with_consul(create_app(find=through_consul), "notification-service")
