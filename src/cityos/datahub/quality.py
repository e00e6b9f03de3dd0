"""Quality and usage figures: per dataset, per department and city, and for the assessment.

- completeness: % of non-missing cells of the stored table, as the last load that stored
  rows reported it (``report["completeness"]``: field → %), else counted (one
  ``COUNT(column)`` per field, all in one SELECT);
- validity: rows stored / rows read of the last load, and that load's status;
- freshness: ``fresh`` / ``stale`` / ``unknown`` from ``data_updated_at`` and the declared
  frequency (:data:`cityos.datahub.models.FRESH_DAYS`);
- usage: downloads and API calls, in total and over the last 30 days.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.datahub import physical, service
from cityos.datahub.access import ReadAccess
from cityos.datahub.models import (
    FRESH_DAYS,
    Access,
    DailyUsage,
    Dataset,
    Frequency,
    Load,
    LoadStatus,
    RequestStatus,
    SharingRequest,
)
from cityos.datahub.tableschema import FieldType, TableSchema

USAGE_DAYS = 30
RECENT_LOADS = 10  # looked at for the last load that stored rows
STORING = (LoadStatus.COMMITTED.value, LoadStatus.PARTIAL.value)
FRESH = "fresh"
STALE = "stale"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DatasetQuality:
    completeness_pct: float | None  # None: nothing stored yet
    field_completeness: dict[str, float]  # field name → % non-missing
    rows: int
    last_load_status: str | None
    last_load_at: datetime | None
    validity_pct: float | None  # rows stored / rows read of the last load
    rows_read: int | None
    rows_loaded: int | None
    freshness: str  # fresh | stale | unknown
    days_since_update: int | None
    fresh_days: int | None  # the frequency's limit (None: never stale)
    downloads: int
    downloads_30d: int
    api_calls: int
    api_calls_30d: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["last_load_at"] = self.last_load_at.isoformat() if self.last_load_at else None
        return out


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _frequency(value: str) -> Frequency:
    try:
        return Frequency(value)
    except ValueError:
        return Frequency.IRREGULAR


def freshness(dataset: Dataset, *, now: datetime) -> tuple[str, int | None]:
    """``(fresh | stale | unknown, whole days since the last stored load)``."""
    if dataset.data_updated_at is None:
        return UNKNOWN, None
    days = max((now - dataset.data_updated_at).days, 0)
    limit = FRESH_DAYS[_frequency(dataset.frequency)]
    if limit is None:  # irregular: never stale
        return FRESH, days
    return (FRESH if now - dataset.data_updated_at <= timedelta(days=limit) else STALE), days


def _reported_completeness(
    dataset: Dataset, schema: TableSchema, load: Load | None
) -> tuple[float | None, dict[str, float], int] | None:
    """The completeness the last storing load wrote in its report, when it describes the
    current schema version and every field (None: count it)."""
    if load is None or load.schema_version != dataset.schema_version:
        return None
    reported = (load.report or {}).get("completeness")
    if not isinstance(reported, dict):
        return None
    per_field: dict[str, float] = {}
    for name in schema.names:
        value = reported.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        per_field[name] = round(float(value), 1)
    rows = dataset.row_count
    if rows == 0 or not per_field:
        return None, {}, 0
    return round(sum(per_field.values()) / len(per_field), 1), per_field, rows


def _counted_completeness(
    db_session: Session, dataset: Dataset, schema: TableSchema
) -> tuple[float | None, dict[str, float], int]:
    """One ``COUNT(column)`` per field over the stored table (all in one SELECT)."""
    version = dataset.schema_version or 0
    table = physical.table_for(schema, dataset_id=dataset.id, version=version)
    connection = db_session.connection()
    if not inspect(connection).has_table(table.name):
        return None, {}, 0
    counts = [func.count()] + [
        func.count(table.c[f.columns[0] if f.type is FieldType.GEOPOINT else f.column])
        for f in schema.fields
    ]
    values = db_session.execute(select(*counts).select_from(table)).one()
    rows = int(values[0])
    if rows == 0:
        return None, {}, 0
    per_field = {
        f.name: round(100.0 * int(count) / rows, 1)
        for f, count in zip(schema.fields, values[1:], strict=True)
    }
    filled = sum(int(count) for count in values[1:])
    return _pct(filled, rows * len(schema.fields)), per_field, rows


def _completeness(
    db_session: Session, dataset: Dataset, schema: TableSchema | None, stored: Load | None
) -> tuple[float | None, dict[str, float], int]:
    """``(% of non-missing cells, % per field, rows)``: from the report of the last load that
    stored rows when it has the figures, else counted in the table."""
    if schema is None or dataset.schema_version is None or not schema.fields:
        return None, {}, 0
    reported = _reported_completeness(dataset, schema, stored)
    if reported is not None:
        return reported
    return _counted_completeness(db_session, dataset, schema)


def _usage(db_session: Session, dataset_id: int, *, now: datetime) -> tuple[int, int, int, int]:
    since = now.date() - timedelta(days=USAGE_DAYS - 1)
    recent = DailyUsage.day >= since
    row = db_session.execute(
        select(
            func.coalesce(func.sum(DailyUsage.downloads), 0),
            func.coalesce(func.sum(DailyUsage.api_calls), 0),
            func.coalesce(func.sum(DailyUsage.downloads).filter(recent), 0),
            func.coalesce(func.sum(DailyUsage.api_calls).filter(recent), 0),
        ).where(DailyUsage.dataset_id == dataset_id)
    ).one()
    return int(row[0]), int(row[2]), int(row[1]), int(row[3])


def dataset_quality(
    db_session: Session,
    *,
    dataset: Dataset,
    now: datetime,
    schema: TableSchema | None = None,
    access: ReadAccess | None = None,
) -> DatasetQuality:
    """The quality and usage figures of one dataset (``schema``: its current one, looked up
    when not given). With ``access``, per-field completeness leaves out the fields hidden
    from that reader."""
    if schema is None and dataset.schema_version is not None:
        schema = service.current_schema(db_session, dataset=dataset)
    loads = service.list_loads(db_session, dataset=dataset, limit=RECENT_LOADS)
    load = loads[0] if loads else None
    stored = next((item for item in loads if item.status in STORING), None)
    completeness, per_field, rows = _completeness(db_session, dataset, schema, stored)
    if access is not None:
        per_field = {name: pct for name, pct in per_field.items() if name not in access.hidden}
    state, days = freshness(dataset, now=now)
    downloads, downloads_30d, api_calls, api_calls_30d = _usage(db_session, dataset.id, now=now)
    return DatasetQuality(
        completeness_pct=completeness,
        field_completeness=per_field,
        rows=rows,
        last_load_status=load.status if load else None,
        last_load_at=(load.finished_at or load.started_at) if load else None,
        validity_pct=_pct(load.rows_loaded, load.rows_read) if load else None,
        rows_read=load.rows_read if load else None,
        rows_loaded=load.rows_loaded if load else None,
        freshness=state,
        days_since_update=days,
        fresh_days=FRESH_DAYS[_frequency(dataset.frequency)],
        downloads=downloads,
        downloads_30d=downloads_30d,
        api_calls=api_calls,
        api_calls_30d=api_calls_30d,
    )


# --- per department and city -------------------------------------------------------------


@dataclass(slots=True)
class RequestCounts:
    total: int = 0
    pending: int = 0
    approved: int = 0  # granted, including grants revoked or expired since
    refused: int = 0
    revoked: int = 0
    days_to_grant: list[float] = field(default_factory=list)

    def add(self, request: SharingRequest) -> None:
        self.total += 1
        status = request.status
        if status == RequestStatus.PENDING.value:
            self.pending += 1
        elif status == RequestStatus.REFUSED.value:
            self.refused += 1
        elif status in (RequestStatus.APPROVED.value, RequestStatus.REVOKED.value):
            self.approved += 1
            self.revoked += status == RequestStatus.REVOKED.value
            if request.decided_at is not None:
                seconds = (request.decided_at - request.created_at).total_seconds()
                self.days_to_grant.append(max(seconds, 0.0) / 86400)

    @property
    def granted_pct(self) -> float | None:
        return _pct(self.approved, self.approved + self.refused)

    @property
    def median_days_to_grant(self) -> float | None:
        if not self.days_to_grant:
            return None
        return round(statistics.median(self.days_to_grant), 1)


@dataclass(slots=True)
class UnitFigures:
    datasets: int = 0
    published: int = 0  # with a schema and stored rows
    open: int = 0  # published and open
    shared: int = 0
    restricted: int = 0
    fresh: int = 0  # published and fresh
    requests: RequestCounts = field(default_factory=RequestCounts)

    def add(self, dataset: Dataset, *, now: datetime) -> None:
        self.datasets += 1
        if not is_published(dataset):
            return
        self.published += 1
        if dataset.access == Access.OPEN.value:
            self.open += 1
        elif dataset.access == Access.SHARED.value:
            self.shared += 1
        else:
            self.restricted += 1
        self.fresh += freshness(dataset, now=now)[0] == FRESH

    @property
    def fresh_pct(self) -> float | None:
        return _pct(self.fresh, self.published)

    def to_dict(self) -> dict[str, Any]:
        return {
            "datasets": self.datasets,
            "published": self.published,
            "open": self.open,
            "shared": self.shared,
            "restricted": self.restricted,
            "fresh_pct": self.fresh_pct,
            "requests": {
                "total": self.requests.total,
                "pending": self.requests.pending,
                "approved": self.requests.approved,
                "refused": self.requests.refused,
                "revoked": self.requests.revoked,
            },
            "granted_pct": self.requests.granted_pct,
            "median_days_to_grant": self.requests.median_days_to_grant,
        }


def is_published(dataset: Dataset) -> bool:
    return dataset.schema_version is not None and dataset.row_count > 0


def _datasets(db_session: Session) -> Sequence[Dataset]:
    return db_session.scalars(select(Dataset).order_by(Dataset.name)).all()


def _requests(
    db_session: Session,
    *,
    dataset_ids: Iterable[int] | None = None,
    decided_from: datetime | None = None,
    decided_to: datetime | None = None,
) -> Sequence[SharingRequest]:
    query = select(SharingRequest)
    if dataset_ids is not None:
        query = query.where(SharingRequest.dataset_id.in_(list(dataset_ids)))
    if decided_from is not None:
        query = query.where(SharingRequest.decided_at >= decided_from)
    if decided_to is not None:
        query = query.where(SharingRequest.decided_at < decided_to)
    return db_session.scalars(query).all()


def hub_metrics(
    db_session: Session, *, now: datetime, department_code: str | None = None
) -> dict[str, Any]:
    """Figures per publishing department and for the whole city (see :class:`UnitFigures`).

    Requests count for the department that publishes the dataset asked for. With
    ``department_code`` only that department is listed (the city figures stay whole).
    """
    only = (
        auth_service.get_department(db_session, code=department_code) if department_code else None
    )
    datasets = _datasets(db_session)
    owner_of = {dataset.id: dataset.department_id for dataset in datasets}
    city = UnitFigures()
    units: dict[int, UnitFigures] = {}
    for dataset in datasets:
        city.add(dataset, now=now)
        units.setdefault(dataset.department_id, UnitFigures()).add(dataset, now=now)
    for request in _requests(db_session):
        city.requests.add(request)
        owner = owner_of.get(request.dataset_id)
        if owner is not None:
            units.setdefault(owner, UnitFigures()).requests.add(request)
    departments = []
    for department in auth_service.list_departments(db_session):
        if only is not None and department.id != only.id:
            continue
        figures = units.get(department.id)
        if figures is None and only is None:
            continue  # a department that publishes nothing
        departments.append(
            {
                "code": department.code,
                "name_zh": department.name_zh,
                "name_en": department.name_en,
                **(figures or UnitFigures()).to_dict(),
            }
        )
    return {"at": now.isoformat(), "city": city.to_dict(), "departments": departments}


def assessment_metrics(
    db_session: Session,
    *,
    area_codes: Sequence[str | None],
    start: datetime,
    end: datetime,
    now: datetime,
) -> dict[str | None, dict[str, float | None]]:
    """``{area code or None (the city): figures}`` for the assessment's live metrics.

    An area's datasets are those whose ``spatial`` is its code; the city has every dataset.
    Figures: ``open_datasets`` (published and open, at ``now``), ``fresh_pct`` (of published
    datasets), ``sharing_granted_pct`` and ``median_days_to_grant`` (requests decided within
    ``[start, end)``).
    """
    datasets = _datasets(db_session)
    decided = _requests(db_session, decided_from=start, decided_to=end)
    out: dict[str | None, dict[str, float | None]] = {}
    for area in area_codes:
        chosen = [d for d in datasets if area is None or d.spatial == area]
        ids = {d.id for d in chosen}
        figures = UnitFigures()
        for dataset in chosen:
            figures.add(dataset, now=now)
        for request in decided:
            if request.dataset_id in ids:
                figures.requests.add(request)
        out[area] = {
            "open_datasets": figures.open,
            "fresh_pct": figures.fresh_pct,
            "sharing_granted_pct": figures.requests.granted_pct,
            "median_days_to_grant": figures.requests.median_days_to_grant,
        }
    return out
