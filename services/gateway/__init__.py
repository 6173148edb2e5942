"""The gateway: the REST API, live events and the dashboard's static files."""
