"""order-service, discovery demo: finds user-service through Consul.

It asks Consul for a passing user-service instance and calls it directly
(DISCOVERY=client; or dns: an SRV query to Consul's DNS; or server: a load balancer asks).
"""

from discovery.locators import through_consul
from discovery.registration import register_with_consul
from services.orders import create_app

app = register_with_consul(create_app(find=through_consul), "order-service")
