"""The store: SQLAlchemy 2.0 models, Alembic migrations, and the queries the services use."""
