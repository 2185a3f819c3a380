"""Alembic environment: runs on the connection the store hands it."""

from __future__ import annotations

from alembic import context

from charter.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when run from the alembic CLI
    from charter.config import Settings
    from charter.store.database import Database

    database = Database(Settings.from_env().database_url)
    with database.write_engine.connect() as own:
        context.configure(connection=own, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        own.commit()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
