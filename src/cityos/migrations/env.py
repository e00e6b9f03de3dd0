"""Alembic environment: runs against the engine CityOS hands over (see ``cityos.db``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import cityos.models  # noqa: F401  (registers every table on Base.metadata)
from cityos.db import Base

engine: Engine = context.config.attributes["engine"]


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Leave the data hub's per-dataset tables (``dh_…``, made at run time) alone."""
    return not (type_ == "table" and name is not None and name.startswith("dh_"))


with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    context.run_migrations()
