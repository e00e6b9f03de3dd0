"""The demo city's service catalog and routing rules (being written)."""

from __future__ import annotations

from sqlalchemy.orm import Session


def seed_catalog(db_session: Session) -> str:
    return "catalog: (not yet)"
