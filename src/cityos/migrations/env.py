"""Alembic environment: runs against the engine CityOS hands over (see ``cityos.db``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import cityos.models  # noqa: F401  (registers every table on Base.metadata)
from cityos.db import Base

engine: Engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
