"""Alembic environment: runs migrations on the connection mlrelease hands it."""

from __future__ import annotations

from alembic import context

from mlrelease.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
