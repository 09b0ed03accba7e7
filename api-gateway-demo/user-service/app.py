"""user-service, gateway demo: nothing to announce; the API gateway knows where it runs."""

from services.users import create_app

app = create_app()
