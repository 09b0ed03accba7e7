"""user-service, discovery demo: registers itself with Consul so others can find it."""

from servicekit.registry import register_with_consul
from servicekit.users import create_app

app = register_with_consul(create_app(), "user-service")
