"""Writing many cases at once: vectorised routing and SLA clocks, then executemany in batches.

The fast path behind the case import and the demo city. Input is a polars frame with one
row per case (see :data:`INPUT_SCHEMA`); every row must already be valid (the importer
checks). Points are located with ``geo.service.locate_many``, routed with
:func:`cityos.cases.routing.route_many`, SLA due times are computed as
:mod:`cityos.cases.sla` would compute them one by one, and the rows are written with the
driver's ``executemany`` over prepared tuples (no ORM objects, no per-row type processing),
in batches, in the caller's transaction. No history rows are written: the history of an
imported case is rebuilt from its times (``workflow.history``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.cases.models import Case, CaseSource, CaseStatus, Category, Priority
from cityos.cases.routing import BulkRouting, route_many
from cityos.errors import InvalidInput
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

Progress = Callable[[str, int, int], None]  # stage, done, total
BATCH_SIZE = 20_000
US_PER_HOUR = 3_600_000_000
IMPORT_CACHE_KIB = 256 * 1024  # SQLite page cache while writing (a cap; used as needed)

# What a caller gives; every other column may be missing or null.
REQUIRED = ("category_id", "lon", "lat", "requested_at", "status")
INPUT_SCHEMA: dict[str, Any] = {
    "category_id": pl.Int64,
    "lon": pl.Float64,
    "lat": pl.Float64,
    "requested_at": pl.Datetime("us"),  # UTC, naive
    "status": pl.String,
    "closed_at": pl.Datetime("us"),  # when a resolved or closed case ended
    "acknowledged_at": pl.Datetime("us"),
    "close_reason": pl.String,
    "priority": pl.String,  # null: the category's default priority
    "description": pl.String,
    "status_notes": pl.String,
    "resolution_note": pl.String,
    "address": pl.String,
    "zipcode": pl.String,
    "department_id": pl.Int64,  # set: overrides routing (the source knew the department)
    "source_ref": pl.String,
    "reopen_count": pl.Int64,
}

# The columns written, in this order (the others keep their NULL).
COLUMNS = (
    "category_id",
    "status",
    "close_reason",
    "priority",
    "description",
    "status_notes",
    "resolution_note",
    "attributes",
    "lon",
    "lat",
    "address",
    "zipcode",
    "area_id",
    "district_id",
    "subdistrict_id",
    "grid_id",
    "department_id",
    "routing_rule_id",
    "routing_reason",
    "source",
    "source_ref",
    "requested_at",
    "updated_at",
    "acknowledged_at",
    "resolved_at",
    "acknowledge_due_at",
    "resolve_due_at",
    "next_due_at",
    "sla_warn_at",
    "reopen_count",
)
DATETIME_COLUMNS = (
    "requested_at",
    "updated_at",
    "acknowledged_at",
    "resolved_at",
    "acknowledge_due_at",
    "resolve_due_at",
    "next_due_at",
    "sla_warn_at",
)
ENDED = (CaseStatus.RESOLVED.value, CaseStatus.CLOSED.value)
NOT_ACKNOWLEDGED = (CaseStatus.SUBMITTED.value, CaseStatus.REOPENED.value)


@dataclass(frozen=True, slots=True)
class Placed:
    """Where the cases are and who owns them (computed once, reusable by the caller)."""

    locations: geo_service.BulkLocation
    routing: BulkRouting


def place(db_session: Session, *, category_ids: Any, lons: Any, lats: Any) -> Placed:
    """Locate and route many cases (vectorised)."""
    locations = geo_service.locate_many(db_session, lons=lons, lats=lats)
    routing = route_many(db_session, category_ids=category_ids, locations=locations)
    return Placed(locations, routing)


def complete(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every input column (missing ones null) in the input types."""
    missing = [name for name in REQUIRED if name not in frame.columns]
    if missing:
        raise InvalidInput(f"Bulk cases need the columns {', '.join(missing)}.")
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(kind).alias(name)
        for name, kind in INPUT_SCHEMA.items()
    )


def _targets(db_session: Session) -> pl.DataFrame:
    """Per (category, priority): the SLA hours as ``sla.targets`` finds them."""
    rows: list[tuple[int, str, float | None, float | None, str]] = []
    for category in db_session.scalars(select(Category)).unique().all():
        for priority in Priority:
            target = category.sla.get(priority.value) or category.sla.get("normal")
            acknowledge = float(target["acknowledge_hours"]) if target else None
            resolve = float(target["resolve_hours"]) if target else None
            rows.append(
                (category.id, priority.value, acknowledge, resolve, category.default_priority)
            )
    return pl.DataFrame(
        rows,
        schema={
            "category_id": pl.Int64,
            "priority": pl.String,
            "acknowledge_hours": pl.Float64,
            "resolve_hours": pl.Float64,
            "default_priority": pl.String,
        },
        orient="row",
    )


def _hours(column: str, factor: float = 1.0) -> pl.Expr:
    return pl.duration(
        microseconds=(pl.col(column) * (US_PER_HOUR * factor)).round().cast(pl.Int64)
    )


def prepare(
    db_session: Session,
    frame: pl.DataFrame,
    *,
    placed: Placed | None = None,
    source: str = CaseSource.IMPORT.value,
    sla_fraction: float = 0.8,
) -> pl.DataFrame:
    """The rows to write, column for column (:data:`COLUMNS`), times still as datetimes."""
    frame = complete(frame)
    if placed is None:
        placed = place(
            db_session,
            category_ids=frame["category_id"].to_numpy(),
            lons=frame["lon"].to_numpy(),
            lats=frame["lat"].to_numpy(),
        )
    locations, routing = placed.locations, placed.routing
    if len(locations) != frame.height:
        raise InvalidInput("The locations do not match the cases (different lengths).")
    outside = np.flatnonzero(~locations.inside)
    if outside.size:
        first = int(outside[0])
        raise InvalidInput(
            f"{outside.size:,} cases lie outside the city (the first is row {first}: "
            f"{frame['lon'][first]}, {frame['lat'][first]})."
        )

    def ids(values: Any) -> pl.Series:
        array = np.asarray(values, dtype=np.int64)
        return pl.Series(array).replace(-1, None)

    departments = {d.id: d.code for d in auth_service.list_departments(db_session)}
    override_reasons = pl.DataFrame(
        {
            "department_id": list(departments),
            "override_reason": [
                f"department given by the source: {c}" for c in departments.values()
            ],
        },
        schema={"department_id": pl.Int64, "override_reason": pl.String},
    )
    placed_frame = pl.DataFrame(
        {
            "area_id": pl.Series(np.asarray(locations.area_ids, dtype=np.int64)),
            "district_id": ids(locations.ids_at(AreaLevel.DISTRICT)),
            "subdistrict_id": ids(locations.ids_at(AreaLevel.SUBDISTRICT)),
            "grid_id": ids(locations.ids_at(AreaLevel.GRID)),
            "routed_department_id": ids(routing.department_ids),
            "routed_rule_id": ids(routing.rule_ids),
            "routed_reason": pl.Series(routing.reasons, dtype=pl.String),
        }
    )
    targets = _targets(db_session)
    defaults = targets.select("category_id", "default_priority").unique("category_id")
    given = frame.with_columns(placed_frame).join(
        defaults, on="category_id", how="left", maintain_order="left"
    )
    given = given.with_columns(pl.coalesce("priority", "default_priority").alias("priority"))
    given = given.join(
        targets.drop("default_priority"),
        on=["category_id", "priority"],
        how="left",
        maintain_order="left",
    ).join(override_reasons, on="department_id", how="left", maintain_order="left")

    status = pl.col("status")
    ended = status.is_in(ENDED)
    waiting = status.is_in(NOT_ACKNOWLEDGED)
    acknowledge_due = pl.col("requested_at") + _hours("acknowledge_hours")
    resolve_due = pl.col("requested_at") + _hours("resolve_hours")
    resolved_at = pl.when(ended).then(pl.col("closed_at"))
    acknowledged_at = (
        pl.when(waiting)
        .then(None)
        .when(pl.col("acknowledged_at").is_not_null())
        .then(pl.col("acknowledged_at"))
        .when(ended)
        .then(pl.col("closed_at"))
        .otherwise(pl.col("requested_at"))
    )
    next_due = (
        pl.when(ended)
        .then(None)
        .when(waiting)
        .then(pl.coalesce(pl.col("acknowledge_due_at"), pl.col("resolve_due_at")))
        .otherwise(pl.col("resolve_due_at"))
    )
    warn = (
        pl.when(ended | pl.col("acknowledge_hours").is_null())
        .then(None)
        .when(waiting)
        .then(pl.col("requested_at") + _hours("acknowledge_hours", sla_fraction))
        .otherwise(pl.col("requested_at") + _hours("resolve_hours", sla_fraction))
    )
    return (
        given.with_columns(
            acknowledge_due.alias("acknowledge_due_at"),
            resolve_due.alias("resolve_due_at"),
            resolved_at.alias("resolved_at"),
            acknowledged_at.alias("acknowledged_at"),
        )
        .with_columns(
            next_due.alias("next_due_at"),
            warn.alias("sla_warn_at"),
            pl.max_horizontal("requested_at", "acknowledged_at", "resolved_at").alias("updated_at"),
            pl.coalesce("department_id", "routed_department_id").alias("department_id"),
            pl.when(pl.col("department_id").is_null())
            .then(pl.col("routed_rule_id"))
            .alias("routing_rule_id"),
            pl.when(pl.col("department_id").is_null())
            .then(pl.col("routed_reason"))
            .otherwise(pl.col("override_reason"))
            .alias("routing_reason"),
            pl.when(ended).then(pl.col("close_reason")).alias("close_reason"),
            pl.when(status == CaseStatus.RESOLVED.value)
            .then(pl.col("resolution_note"))
            .alias("resolution_note"),
            pl.col("description").fill_null(""),
            pl.col("status_notes").fill_null(""),
            pl.col("address").fill_null(""),
            pl.col("reopen_count").fill_null(0),
            pl.lit("{}").alias("attributes"),
            pl.lit(source).alias("source"),
        )
        .select(COLUMNS)
    )


def to_rows(frame: pl.DataFrame, *, dialect: str) -> pl.DataFrame:
    """Datetimes as the text each database stores or parses (SQLite: naive UTC, as
    SQLAlchemy writes it; PostgreSQL: with the +00:00 offset)."""
    suffix = "" if dialect == "sqlite" else "+00:00"
    return frame.with_columns(
        pl.col(name).dt.strftime(f"%Y-%m-%d %H:%M:%S%.6f{suffix}") for name in DATETIME_COLUMNS
    )


def insert_sql(db_session: Session) -> str:
    """``INSERT INTO cases_cases (…) VALUES (…)`` in the driver's parameter style."""
    dialect = db_session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    table = quote(Case.__tablename__)
    names = ", ".join(quote(name) for name in COLUMNS)
    values = ", ".join([marker] * len(COLUMNS))
    return f"INSERT INTO {table} ({names}) VALUES ({values})"  # noqa: S608 - names from the model


def write(
    db_session: Session,
    rows: pl.DataFrame,
    *,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """executemany the prepared rows (:func:`to_rows`) in batches; returns the count."""
    if rows.columns != list(COLUMNS):
        raise InvalidInput("The rows to write do not have the case columns in order.")
    connection = db_session.connection()
    sql = insert_sql(db_session)
    total = rows.height
    done = 0
    if progress:
        progress("writing", 0, total)
    with sqlite_cache(connection):
        for offset in range(0, total, batch_size):
            batch = rows.slice(offset, batch_size).rows()
            connection.exec_driver_sql(sql, batch)
            done += len(batch)
            if progress:
                progress("writing", done, total)
    return done


@contextmanager
def sqlite_cache(connection: Connection, kib: int = IMPORT_CACHE_KIB) -> Iterator[None]:
    """On SQLite, a larger page cache while writing (the table's indexes stay in memory),
    then the connection's own size again. Only this connection is affected."""
    if connection.dialect.name != "sqlite":
        yield
        return
    before = int(connection.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)
    connection.exec_driver_sql(f"PRAGMA cache_size={-abs(kib)}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size={before}")


def insert_cases(
    db_session: Session,
    frame: pl.DataFrame,
    *,
    placed: Placed | None = None,
    source: str = CaseSource.IMPORT.value,
    sla_fraction: float = 0.8,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Route, time and write many valid cases in the caller's transaction."""
    if frame.height == 0:
        return 0
    prepared = prepare(db_session, frame, placed=placed, source=source, sla_fraction=sla_fraction)
    rows = to_rows(prepared, dialect=db_session.get_bind().dialect.name)
    db_session.flush()
    return write(db_session, rows, progress=progress, batch_size=batch_size)
