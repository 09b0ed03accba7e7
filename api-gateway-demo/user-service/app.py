"""user-service, gateway demo: nothing to announce; the API gateway knows where it runs."""

from discovery.locators import through_gateway
from services.users import create_app

app = create_app(find=through_gateway)
