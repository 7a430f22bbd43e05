"""Persistence: SQLAlchemy models, sessions, migrations and the services that write them."""
