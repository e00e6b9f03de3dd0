"""Per-installation values kept in the database (shared by every CityOS process)."""

from __future__ import annotations

import secrets

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cityos.db import Base


class InstanceValue(Base):
    __tablename__ = "instance_values"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(4000))


def secret_key(db_session: Session, configured: str | None) -> str:
    """The configured secret key, else the stored one, generated and stored on first run."""
    if configured:
        return configured
    stored = db_session.scalar(select(InstanceValue.value).where(InstanceValue.key == "secret_key"))
    if stored:
        return stored
    value = secrets.token_urlsafe(48)
    db_session.add(InstanceValue(key="secret_key", value=value))
    db_session.commit()
    return value


def read_token(db_session: Session, key: str) -> str | None:
    """The current revision token stored under ``key`` (None if never written)."""
    query = select(InstanceValue.value).where(InstanceValue.key == key)
    return db_session.connection().execute(query).scalar()  # Core: this runs per request


def bump_token(db_session: Session, key: str) -> str:
    """Give ``key`` a new random revision token, in the caller's transaction."""
    token = secrets.token_hex(8)
    with db_session.no_autoflush:
        row = db_session.get(InstanceValue, key)
    if row is None:
        db_session.add(InstanceValue(key=key, value=token))
    else:
        row.value = token
    return token
