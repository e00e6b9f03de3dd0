"""The operations center's data-hub figures agree with the quality module's, counted in SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.datahub import quality, service
from cityos.datahub.models import Dataset

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
D = timedelta(days=1)


def add(
    db: Session,
    name: str,
    *,
    access: str = "open",
    frequency: str = "daily",
    updated: timedelta | None = D,
    rows: int = 10,
    schema: bool = True,
) -> None:
    """A dataset as a load leaves it: ``updated`` before NOW, ``rows`` stored."""
    department = auth_service.get_department(db, code="CMB")
    db.add(
        Dataset(
            name=name,
            title_zh=name,
            title_en=name,
            department_id=department.id,
            licence="CC-BY-4.0",
            access=access,
            frequency=frequency,
            schema_version=1 if schema else None,
            row_count=rows,
            data_updated_at=None if updated is None else NOW - updated,
        )
    )


def test_open_and_fresh_shares_are_of_the_published_datasets(
    db: Session, people: dict[str, User]
) -> None:
    add(db, "daily-fresh")  # open, fresh (1 day ≤ 2)
    add(db, "daily-stale", updated=3 * D)  # open, stale
    add(db, "weekly-shared", access="shared", frequency="weekly", updated=8 * D)  # fresh (≤ 8)
    add(db, "irregular-old", access="restricted", frequency="irregular", updated=400 * D)
    add(db, "odd-frequency", frequency="hourly-ish", updated=50 * D)  # unknown: irregular
    add(db, "no-rows", rows=0)  # not published
    add(db, "no-schema", schema=False, rows=0, updated=None)  # not published
    db.commit()
    board = service.board_metrics(db, now=NOW)
    assert board == service.HubBoard(
        datasets=7, published=5, open=3, fresh=4, open_pct=60.0, fresh_pct=80.0
    )
    city = quality.hub_metrics(db, now=NOW)["city"]
    assert (city["datasets"], city["published"], city["open"]) == (7, 5, 3)
    assert city["fresh_pct"] == board.fresh_pct


def test_an_empty_hub_has_no_percentages(db: Session) -> None:
    assert service.board_metrics(db, now=NOW) == service.HubBoard(0, 0, 0, 0, None, None)
