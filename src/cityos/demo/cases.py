"""The demo city's cases over the last 90 days (being written)."""

from __future__ import annotations

from sqlalchemy.orm import Session


def seed_cases(db_session: Session) -> str:
    return "cases: (not yet)"
