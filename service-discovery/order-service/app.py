"""order-service, discovery demo: finds user-service through Consul.

It asks Consul for a passing user-service instance and calls it directly.
"""

from servicekit.locators import ConsulLocator
from servicekit.orders import create_app
from servicekit.registry import register_with_consul

app = register_with_consul(create_app(locator=ConsulLocator("user-service")), "order-service")
