"""The data hub's datasets: metadata, schema versions, resources, search and usage.

Other domains call the data hub through this module only. Loading, querying, access and
quality have their own modules; the functions other domains need are re-exported at the
bottom (``assessment_metrics``, ``hub_metrics``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cityos.audit import service as audit
from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.datahub import physical, storage
from cityos.datahub.board import HubBoard, board_metrics
from cityos.datahub.ingest import LoadOptions, load_file, validate_file
from cityos.datahub.models import (
    Access,
    DailyUsage,
    Dataset,
    Frequency,
    Load,
    QuarantinedRow,
    Resource,
    ResourceKind,
)
from cityos.datahub.query import RowPage, RowQuery, fetch_rows, iter_frames, parse_row_query
from cityos.datahub.report import Report
from cityos.datahub.search import FacetValue, SearchResult, schemas_of, search
from cityos.datahub.tableschema import from_resolved
from cityos.datahub.versions import (
    Migration,
    current_schema,
    schema_at,
    schema_versions,
    set_schema,
)
from cityos.datahub.vocab import LICENCES, MEDIA_TYPES, RESERVED_NAMES, THEMES, table_formats
from cityos.db import utcnow
from cityos.errors import Conflict, NotFound, Unprocessable

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{1,99}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TEXT_KEYS = ("title_zh", "title_en", "description_zh", "description_en")
EDITABLE = (
    *TEXT_KEYS,
    "themes",
    "keywords",
    "licence",
    "frequency",
    "spatial",
    "temporal_start",
    "temporal_end",
    "contact_name",
    "contact_email",
    "access",
)
MAX_TEXT = {"title_zh": 300, "title_en": 300, "description_zh": 20_000, "description_en": 20_000}


# --- reading ---------------------------------------------------------------------------


def get_dataset(db_session: Session, *, name: str) -> Dataset:
    dataset = db_session.scalar(select(Dataset).where(Dataset.name == name))
    if dataset is None:
        raise NotFound(f"There is no dataset called {name!r}. See GET /api/data for the list.")
    return dataset


def get_dataset_by_id(db_session: Session, *, dataset_id: int) -> Dataset:
    dataset = db_session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"There is no dataset with id {dataset_id}.")
    return dataset


def find_dataset(db_session: Session, *, name: str) -> Dataset | None:
    return db_session.scalar(select(Dataset).where(Dataset.name == name))


def list_datasets(db_session: Session) -> list[Dataset]:
    return list(db_session.scalars(select(Dataset).order_by(Dataset.name)))


# --- metadata ---------------------------------------------------------------------------


def _as_date(value: Any, key: str, problems: list[dict[str, str]]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append({"where": key, "message": f"{value!r} is not a date (YYYY-MM-DD)"})
        return None


def _strings(value: Any, key: str, problems: list[dict[str, str]]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append({"where": key, "message": "must be a list of texts"})
        return []
    return [item.strip() for item in value if item.strip()]


def _clean_metadata(
    data: Mapping[str, Any], *, creating: bool
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Checked and normalised metadata values, and every problem found."""
    problems: list[dict[str, str]] = []
    unknown = sorted(set(data) - set(EDITABLE) - {"name", "schema"})
    for key in unknown:
        problems.append(
            {"where": key, "message": f"unknown field; known fields: {', '.join(EDITABLE)}"}
        )
    clean: dict[str, Any] = {}
    if creating:
        name = str(data.get("name", "")).strip()
        if not NAME_PATTERN.match(name):
            problems.append(
                {
                    "where": "name",
                    "message": "2–100 characters: lower-case letters, digits, '-' and '_', "
                    "starting with a letter or digit (e.g. 'air-quality-hourly')",
                }
            )
        elif name in RESERVED_NAMES:
            problems.append({"where": "name", "message": f"{name!r} is reserved; pick another"})
        clean["name"] = name
    for key in TEXT_KEYS:
        if key in data or creating:
            text = str(data.get(key) or "").strip()
            if len(text) > MAX_TEXT[key]:
                problems.append({"where": key, "message": f"at most {MAX_TEXT[key]} characters"})
            clean[key] = text
    titled = creating  # an update is checked against the stored titles by update_dataset
    if titled and not (clean.get("title_zh") or clean.get("title_en")):
        problems.append({"where": "title_en", "message": "give a title (in zh, en or both)"})
    if "themes" in data:
        themes = _strings(data["themes"], "themes", problems)
        for theme in themes:
            if theme not in THEMES:
                problems.append(
                    {
                        "where": "themes",
                        "message": f"{theme!r} is not a theme; use {', '.join(THEMES)}",
                    }
                )
        clean["themes"] = list(dict.fromkeys(themes))
    if "keywords" in data:
        clean["keywords"] = list(dict.fromkeys(_strings(data["keywords"], "keywords", problems)))
    if creating or "licence" in data:
        licence = str(data.get("licence") or "CC-BY-4.0")
        if licence not in LICENCES:
            problems.append(
                {"where": "licence", "message": f"{licence!r} unknown; use {', '.join(LICENCES)}"}
            )
        clean["licence"] = licence
    for key, enum in (("frequency", Frequency), ("access", Access)):
        if key in data:
            try:
                clean[key] = enum(str(data[key])).value
            except ValueError:
                allowed = ", ".join(member.value for member in enum)
                problems.append({"where": key, "message": f"{data[key]!r}: use one of {allowed}"})
    for key in ("temporal_start", "temporal_end"):
        if key in data:
            clean[key] = _as_date(data[key], key, problems)
    start, end = clean.get("temporal_start"), clean.get("temporal_end")
    if start and end and start > end:
        problems.append({"where": "temporal_end", "message": "ends before temporal_start"})
    for key in ("spatial", "contact_name"):
        if key in data:
            clean[key] = str(data[key] or "").strip()[:200]
    if "contact_email" in data:
        email = str(data["contact_email"] or "").strip()
        if email and not EMAIL_PATTERN.match(email):
            problems.append({"where": "contact_email", "message": f"{email!r} is not an e-mail"})
        clean["contact_email"] = email
    return clean, problems


def _refuse(problems: list[dict[str, str]], what: str) -> Unprocessable:
    first = problems[0]
    return Unprocessable(
        f"The {what} has {len(problems)} problem(s): {first['where']}: {first['message']}",
        details=problems,
    )


def summary_of(dataset: Dataset) -> dict[str, Any]:
    """The audited picture of a dataset's metadata."""
    out: dict[str, Any] = {"name": dataset.name, "department": dataset.department.code}
    for key in EDITABLE:
        value = getattr(dataset, key)
        out[key] = value.isoformat() if isinstance(value, date) else value
    return out


def create_dataset(
    db_session: Session, *, data: Mapping[str, Any], department_code: str, actor: Actor
) -> Dataset:
    """A new dataset (and its table resource); with ``data["schema"]``, its first schema."""
    clean, problems = _clean_metadata(data, creating=True)
    if problems:
        raise _refuse(problems, "dataset")
    if find_dataset(db_session, name=clean["name"]) is not None:
        raise Conflict(f"A dataset called {clean['name']!r} exists already; pick another name.")
    department = auth_service.get_department(db_session, code=department_code)
    dataset = Dataset(department_id=department.id, **clean)
    dataset.department = department
    db_session.add(dataset)
    db_session.flush()
    db_session.add(
        Resource(
            uuid=str(uuid.uuid4()),
            dataset_id=dataset.id,
            kind=ResourceKind.TABLE.value,
            name=dataset.title_en or dataset.title_zh,
            format="CSV",
            media_type=MEDIA_TYPES["CSV"],
        )
    )
    audit.record(
        db_session,
        actor=actor,
        action="datahub.dataset.create",
        entity_type="dataset",
        entity_id=dataset.name,
        summary=f"created dataset {dataset.name}",
        after=summary_of(dataset),
    )
    if data.get("schema") is not None:
        set_schema(db_session, name=dataset.name, descriptor=data["schema"], actor=actor)
    db_session.flush()
    return dataset


def update_dataset(
    db_session: Session, *, name: str, changes: Mapping[str, Any], actor: Actor
) -> Dataset:
    dataset = get_dataset(db_session, name=name)
    if "name" in changes and changes["name"] != name:
        raise Unprocessable("A dataset's name cannot change (links and API clients use it).")
    clean, problems = _clean_metadata(
        {k: v for k, v in changes.items() if k != "name"}, creating=False
    )
    if "schema" in clean:
        clean.pop("schema")
    if problems:
        raise _refuse(problems, "change")
    before = summary_of(dataset)
    for key, value in clean.items():
        setattr(dataset, key, value)
    if not (dataset.title_zh or dataset.title_en):
        raise Unprocessable("A dataset needs a title: give a title in zh, en or both.")
    dataset.updated_at = utcnow()
    db_session.flush()
    audit.record(
        db_session,
        actor=actor,
        action="datahub.dataset.update",
        entity_type="dataset",
        entity_id=dataset.name,
        summary=f"changed {', '.join(sorted(clean)) or 'nothing'}",
        before=before,
        after=summary_of(dataset),
    )
    return dataset


def delete_dataset(db_session: Session, *, name: str, actor: Actor) -> None:
    """Delete a dataset with its rows (every version's table), loads and requests."""
    dataset = get_dataset(db_session, name=name)
    tables = [
        physical.table_for(
            from_resolved(row.descriptor), dataset_id=dataset.id, version=row.version
        )
        for row in schema_versions(db_session, dataset=dataset)
    ]
    audit.record(
        db_session,
        actor=actor,
        action="datahub.dataset.delete",
        entity_type="dataset",
        entity_id=dataset.name,
        summary=f"deleted dataset {dataset.name} ({dataset.row_count} rows)",
        before=summary_of(dataset),
    )
    db_session.delete(dataset)
    db_session.flush()
    connection = db_session.connection()
    for table in tables:  # in the same transaction: a rollback keeps the rows
        storage.drop_table(connection, table)


# --- resources ---------------------------------------------------------------------------


def resources(db_session: Session, *, dataset: Dataset) -> list[Resource]:
    return list(
        db_session.scalars(
            select(Resource)
            .where(Resource.dataset_id == dataset.id)
            .order_by(Resource.kind.desc(), Resource.id)  # the table first
        )
    )


def resources_of(db_session: Session, datasets: Sequence[Dataset]) -> dict[int, list[Resource]]:
    """Every dataset's resources (the table first), in one query."""
    found: dict[int, list[Resource]] = {d.id: [] for d in datasets}
    if found:
        for resource in db_session.scalars(
            select(Resource)
            .where(Resource.dataset_id.in_(found))
            .order_by(Resource.kind.desc(), Resource.id)
        ):
            found[resource.dataset_id].append(resource)
    return found


def table_resource(db_session: Session, *, dataset: Dataset) -> Resource:
    resource = db_session.scalar(
        select(Resource).where(
            Resource.dataset_id == dataset.id, Resource.kind == ResourceKind.TABLE.value
        )
    )
    if resource is None:  # pragma: no cover - made with the dataset
        raise NotFound(f"The dataset {dataset.name!r} has no table resource.")
    return resource


def get_resource(db_session: Session, *, uuid: str) -> Resource:
    resource = db_session.scalar(select(Resource).where(Resource.uuid == uuid))
    if resource is None:
        raise NotFound(f"There is no resource with id {uuid!r}.")
    return resource


def attach_file(
    db_session: Session,
    *,
    dataset: Dataset,
    filename: str,
    content: bytes,
    description: str = "",
    actor: Actor,
) -> Resource:
    """Attach a file (a PDF, a zipped shapefile, …) to a dataset."""
    extension = filename.rsplit(".", 1)[-1].upper() if "." in filename else ""
    if not content:
        raise Unprocessable(f"The file {filename!r} is empty.")
    resource = Resource(
        uuid=str(uuid.uuid4()),
        dataset_id=dataset.id,
        kind=ResourceKind.FILE.value,
        name=filename,
        description=description,
        format=extension,
        media_type=MEDIA_TYPES.get(extension, "application/octet-stream"),
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
    )
    db_session.add(resource)
    db_session.flush()
    audit.record(
        db_session,
        actor=actor,
        action="datahub.resource.attach",
        entity_type="dataset",
        entity_id=dataset.name,
        summary=f"attached {filename} ({len(content):,} bytes)",
    )
    return resource


# --- loads -----------------------------------------------------------------------------


def list_loads(db_session: Session, *, dataset: Dataset, limit: int | None = None) -> list[Load]:
    """The dataset's loads, newest first (rejected ones too)."""
    query = (
        select(Load)
        .where(Load.dataset_id == dataset.id)
        .order_by(Load.started_at.desc(), Load.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db_session.scalars(query))


def last_load(db_session: Session, *, dataset: Dataset) -> Load | None:
    loads = list_loads(db_session, dataset=dataset, limit=1)
    return loads[0] if loads else None


def get_load(db_session: Session, *, dataset: Dataset, load_id: int) -> Load:
    load = db_session.get(Load, load_id)
    if load is None or load.dataset_id != dataset.id:
        raise NotFound(
            f"{dataset.name} has no load {load_id}; see GET /api/data/{dataset.name}/loads."
        )
    return load


def quarantined_rows(
    db_session: Session, *, load: Load, offset: int = 0, limit: int = 100
) -> tuple[list[QuarantinedRow], int]:
    """A page of the rows a partial load kept aside (by row number), and how many there are."""
    where = QuarantinedRow.load_id == load.id
    total = db_session.scalar(select(func.count()).select_from(QuarantinedRow).where(where)) or 0
    rows = db_session.scalars(
        select(QuarantinedRow)
        .where(where)
        .order_by(QuarantinedRow.row_number)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total)


# --- usage -------------------------------------------------------------------------------


def record_usage(
    db_session: Session, *, dataset: Dataset, downloads: int = 0, api_calls: int = 0
) -> None:
    """Count a download or an API call of ``dataset`` today."""
    values = {
        "dataset_id": dataset.id,
        "day": utcnow().date(),
        "downloads": downloads,
        "api_calls": api_calls,
    }
    table = cast(Table, DailyUsage.__table__)
    update = {
        "downloads": table.c.downloads + downloads,
        "api_calls": table.c.api_calls + api_calls,
    }
    if db_session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql.insert(table).values(**values)
    else:
        statement = sqlite.insert(table).values(**values)
    db_session.execute(
        statement.on_conflict_do_update(index_elements=["dataset_id", "day"], set_=update)
    )


def usage_totals(
    db_session: Session, *, dataset: Dataset, since: date | None = None
) -> tuple[int, int]:
    """(downloads, api calls) of a dataset, in all or since a day."""
    query = select(
        func.coalesce(func.sum(DailyUsage.downloads), 0),
        func.coalesce(func.sum(DailyUsage.api_calls), 0),
    ).where(DailyUsage.dataset_id == dataset.id)
    if since is not None:
        query = query.where(DailyUsage.day >= since)
    downloads, calls = db_session.execute(query).one()
    return int(downloads), int(calls)


def forget_usage(db_session: Session, *, dataset: Dataset) -> None:
    db_session.execute(delete(DailyUsage).where(DailyUsage.dataset_id == dataset.id))


# --- for other domains -------------------------------------------------------------------


def assessment_metrics(
    db_session: Session,
    *,
    area_codes: Sequence[str | None],
    start: datetime,
    end: datetime,
    now: datetime,
) -> dict[str | None, dict[str, float | None]]:
    """The data hub's live figures for the assessment module (see docs/assessment.md)."""
    from cityos.datahub import quality

    return quality.assessment_metrics(
        db_session, area_codes=area_codes, start=start, end=end, now=now
    )


def hub_metrics(
    db_session: Session, *, now: datetime, department_code: str | None = None
) -> dict[str, Any]:
    """Per department and for the city: datasets, freshness, sharing (operations center)."""
    from cityos.datahub import quality

    return quality.hub_metrics(db_session, now=now, department_code=department_code)


__all__ = [
    "FacetValue",
    "HubBoard",
    "LoadOptions",
    "Migration",
    "Report",
    "RowPage",
    "RowQuery",
    "SearchResult",
    "assessment_metrics",
    "board_metrics",
    "current_schema",
    "fetch_rows",
    "hub_metrics",
    "iter_frames",
    "load_file",
    "parse_row_query",
    "schema_at",
    "schema_versions",
    "schemas_of",
    "search",
    "set_schema",
    "table_formats",
    "validate_file",
]
