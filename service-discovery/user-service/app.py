"""user-service, discovery demo: registers itself with Consul so others can find it."""

from discovery.locators import through_consul
from discovery.registration import register_with_consul
from services.users import create_app

app = register_with_consul(create_app(find=through_consul), "user-service")
