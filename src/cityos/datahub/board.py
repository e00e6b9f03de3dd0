"""The operations center's data-hub figures: how many datasets are published, open and fresh.

The definitions are those of :mod:`cityos.datahub.quality` (a dataset is *published* when it
has a schema and stored rows; *open* when published with open access; *fresh* when
published and updated within its frequency's limit, :data:`~cityos.datahub.models.FRESH_DAYS`;
an irregular or unknown frequency is never stale once data was stored), counted in one SQL
aggregate instead of loading every dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cityos.datahub.models import FRESH_DAYS, Access, Dataset


@dataclass(frozen=True, slots=True)
class HubBoard:
    datasets: int  # every dataset in the catalogue
    published: int  # with a schema and stored rows
    open: int  # published with open access
    fresh: int  # published and fresh
    open_pct: float | None  # open of published
    fresh_pct: float | None  # fresh of published


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _sum(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _fresh(now: datetime) -> ColumnElement[bool]:
    limited = {frequency.value: days for frequency, days in FRESH_DAYS.items() if days is not None}
    return or_(
        *(
            and_(
                Dataset.frequency == frequency,
                Dataset.data_updated_at >= now - timedelta(days=days),
            )
            for frequency, days in limited.items()
        ),
        and_(Dataset.frequency.not_in(list(limited)), Dataset.data_updated_at.is_not(None)),
    )


def board_metrics(db_session: Session, *, now: datetime) -> HubBoard:
    """Datasets, published, open and fresh ones at ``now``, with the percentages of the
    published ones (None when nothing is published)."""
    published = and_(Dataset.schema_version.is_not(None), Dataset.row_count > 0)
    datasets, published_count, open_count, fresh_count = db_session.execute(
        select(
            func.count(Dataset.id),
            _sum(published),
            _sum(and_(published, Dataset.access == Access.OPEN.value)),
            _sum(and_(published, _fresh(now))),
        )
    ).one()
    published_count, open_count, fresh_count = (
        int(published_count),
        int(open_count),
        int(fresh_count),
    )
    return HubBoard(
        datasets=int(datasets),
        published=published_count,
        open=open_count,
        fresh=fresh_count,
        open_pct=_pct(open_count, published_count),
        fresh_pct=_pct(fresh_count, published_count),
    )
