"""Importing historical cases from CSV, TSV or XLSX with a column mapping.

``import_file`` reads the file (:mod:`cityos.cases.import_reader`), checks the mapping
against the file and the database, then checks every row at once with polars expressions
(:mod:`cityos.cases.import_checks`): required values, date-times that parse, closed not
before opened, known categories and statuses, coordinates that are numbers and lie inside
the city. Rows whose external id was
imported before (``source_ref`` = ``<source>:<id>``) are skipped, so importing a file twice
adds nothing. Valid rows are routed and timed in bulk and written with executemany
(:mod:`cityos.cases.bulk`), with one audit entry for the whole import.

All-or-nothing by default: when any row has a problem nothing is written and
:class:`ImportRejected` lists every problem (row, column, value, reason). With
``skip_invalid`` the good rows are written and the problems are in the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.cases import bulk, import_checks
from cityos.cases.bulk import Progress
from cityos.cases.import_mapping import ImportMapping, check_timezone
from cityos.cases.import_reader import ROW, Table, read_table
from cityos.cases.models import Case, CaseSource, CaseStatus
from cityos.db import utcnow
from cityos.errors import InvalidInput, Unprocessable

DETAILS_LIMIT = 1000  # problems carried in the error's details (the report has them all)


@dataclass(frozen=True, slots=True)
class ImportReport:
    name: str
    source: str
    rows: int
    imported: int
    skipped: int  # already imported earlier (same external id)
    rejected: int  # rows with at least one problem
    problems: pl.DataFrame  # row, column, value, reason — one line per problem
    seconds: float

    @property
    def written(self) -> bool:
        return self.imported > 0

    def describe(self) -> str:
        return (
            f"{self.imported:,} of {self.rows:,} rows imported from {self.name}; "
            f"{self.skipped:,} already imported, {self.rejected:,} rejected"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "source": self.source,
            "rows": self.rows,
            "imported": self.imported,
            "skipped": self.skipped,
            "rejected": self.rejected,
        }


class ImportRejected(Unprocessable):
    """Rows had problems and the import was all-or-nothing: nothing was written."""

    def __init__(self, message: str, *, report: ImportReport) -> None:
        details = report.problems.head(DETAILS_LIMIT).to_dicts()
        super().__init__(message, details=details)
        self.report = report


def write_problems(report: ImportReport, path: Path) -> None:
    """The rejected-rows report as CSV: row, column, value, reason."""
    report.problems.write_csv(path)


def _already_imported(db_session: Session, refs: pl.Series, prefix: str) -> pl.Series:
    """Per row: was a case with this source_ref imported before?"""
    column = Case.__table__.c.source_ref
    existing = db_session.scalars(
        select(column).where(
            Case.__table__.c.source == CaseSource.IMPORT.value,
            column.startswith(prefix, autoescape=True),
        )
    ).all()
    if not existing:
        return pl.Series([False] * len(refs), dtype=pl.Boolean)
    return refs.is_in(pl.Series(existing, dtype=pl.String).implode()).fill_null(False)


# --- the import -----------------------------------------------------------------------------


def import_table(
    db_session: Session,
    table: Table,
    mapping: ImportMapping,
    *,
    actor: Actor,
    skip_invalid: bool = False,
    timezone: str = "Asia/Shanghai",
    sla_fraction: float = 0.8,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Check and import a read table (see the module's docstring)."""
    started = time.perf_counter()
    now = now or utcnow()
    zone = mapping.datetimes.timezone or timezone
    try:
        check_timezone(zone)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    lookups = import_checks.check_references(db_session, mapping, table)
    total = table.frame.height
    if total == 0:
        raise InvalidInput(f"{table.name} has a header but no rows: there is nothing to import.")
    if progress:
        progress("checking", 0, total)
    frame, problems = import_checks.check_rows(
        db_session, table, mapping, lookups=lookups, timezone=zone, now=now
    )
    seen = _already_imported(db_session, frame["source_ref"], f"{mapping.source}:")
    frame = frame.with_columns(seen.alias("__seen"))
    skipped_rows = frame.filter(pl.col("__seen"))[ROW]
    problems = problems.filter(~pl.col("row").is_in(skipped_rows.implode()))
    bad_rows = problems["row"].unique()
    good = frame.filter(~pl.col("__seen") & ~pl.col(ROW).is_in(bad_rows.implode()))
    if progress:
        progress("checking", total, total)

    def report(imported: int) -> ImportReport:
        return ImportReport(
            name=table.name,
            source=mapping.source,
            rows=total,
            imported=imported,
            skipped=skipped_rows.len(),
            rejected=bad_rows.len(),
            problems=problems,
            seconds=time.perf_counter() - started,
        )

    if bad_rows.len() and not skip_invalid:
        first = problems.row(0, named=True)
        raise ImportRejected(
            f"{bad_rows.len():,} of {total:,} rows of {table.name} have problems, so nothing "
            f"was imported (fix them, or import the other rows with --skip-invalid). First: "
            f"row {first['row']}, {first['column']}: {first['reason']}.",
            report=report(0),
        )
    cases = good.select(
        pl.col("category_id"),
        pl.col("lon_value").alias("lon"),
        pl.col("lat_value").alias("lat"),
        pl.col("opened_at").alias("requested_at"),
        pl.col("final_status").alias("status"),
        pl.col("closed_at"),
        pl.col("acknowledged_at"),
        pl.col("final_reason").alias("close_reason"),
        pl.col("priority_value").alias("priority"),
        pl.col("description"),
        _note(mapping).alias("resolution_note"),
        pl.when(pl.col("final_status") == CaseStatus.CLOSED.value)
        .then(_note(mapping))
        .alias("status_notes"),
        pl.col("address"),
        pl.col("zipcode"),
        pl.col("department_id"),
        pl.col("source_ref"),
    )
    if progress:
        progress("routing", 0, cases.height)
    imported = bulk.insert_cases(db_session, cases, sla_fraction=sla_fraction, progress=progress)
    result = report(imported)
    record(
        db_session,
        actor=actor,
        action="cases.import",
        entity_type="cases_import",
        entity_id=mapping.source,
        summary=result.describe(),
        after=result.to_dict(),
    )
    return result


def _note(mapping: ImportMapping) -> pl.Expr:
    note = pl.col("resolution_note")
    if mapping.resolution_note_pattern:
        extracted = note.str.extract(mapping.resolution_note_pattern, 1).str.strip_chars()
        note = (
            pl.when(extracted.is_not_null() & (extracted != ""))
            .then(extracted)
            .otherwise(pl.when(extracted == "").then(None).otherwise(note))
        )
    return note


def import_file(
    db_session: Session,
    path: Path,
    mapping: ImportMapping,
    *,
    actor: Actor,
    skip_invalid: bool = False,
    timezone: str = "Asia/Shanghai",
    sla_fraction: float = 0.8,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Read ``path`` (CSV, TSV or XLSX) and import it with ``mapping``."""
    if progress:
        progress("reading", 0, 1)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"Cannot read {path.name}: {error.strerror}.") from None
    table = read_table(data, name=path.name, options=mapping.file)
    return import_table(
        db_session,
        table,
        mapping,
        actor=actor,
        skip_invalid=skip_invalid,
        timezone=timezone,
        sla_fraction=sla_fraction,
        progress=progress,
        now=now,
    )


__all__ = [
    "ImportRejected",
    "ImportReport",
    "import_file",
    "import_table",
    "write_problems",
]
