"""order-service, discovery demo: finds user-service through Consul.

It asks Consul for a passing user-service instance and calls it directly
(DISCOVERY=client; or dns: an SRV query to Consul's DNS; or server: a load balancer asks).
"""

from servicekit.locators import discovery_locator
from servicekit.orders import create_app
from servicekit.registry import register_with_consul

app = register_with_consul(create_app(locator=discovery_locator("user-service")), "order-service")
