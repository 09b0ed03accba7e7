"""The chassis every service runs on, once: the app factory's shared pieces (JSON errors,
request IDs, JSON logs, health), SQLite, auth, input validation, OpenAPI, how gunicorn runs it.

What a service *does* is in services/; how services talk, in communication/; how they find each
other, in discovery/.
"""
