"""Alembic environment: the engine comes from kilo.db (DATABASE_URL), metadata from kilo.models."""

from alembic import context
from sqlmodel import SQLModel

import kilo.models  # noqa: F401  (registers every table on SQLModel.metadata)
from kilo.db import get_engine

config = context.config
engine = config.attributes.get("engine") or get_engine()

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
