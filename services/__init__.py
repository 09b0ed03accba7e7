"""The services' own code: each module is one service's Flask app factory, each .sql its database.

Both demos run these same services; a demo's folder only says how a service finds the others
(`api-gateway-demo/*/app.py`, `service-discovery/*/app.py`).
"""
