"""Loading a file into a dataset: read, check, then store all of it, part of it, or nothing.

Two passes. Pass 1 streams the file in batches (:func:`cityos.datahub.readers.open_source`),
checks each batch (:func:`cityos.datahub.validate.validate_frame`) and writes the typed rows
to temporary Parquet files (for a quarantine, it keeps the invalid rows' cells too). Pass 2
checks what needs the whole file — unique values, keys, foreign keys — lazily over those
files (:mod:`cityos.datahub.keys`). Then:

* no errors → every row is stored (``committed``);
* errors and ``on_error=reject`` (or errors in the header, or no valid row) → nothing is
  stored (``rejected``);
* errors and ``on_error=quarantine`` → the valid rows are stored, the others kept as
  :class:`QuarantinedRow` (``partial``).

Storing happens in the caller's transaction: replace empties the table first, append adds
(keys already stored are errors), upsert inserts or updates on the primary key; into an
empty table the indexes are built after the rows (:func:`cityos.datahub.storage.store`). A
failure while storing raises and the caller's rollback leaves nothing half-written — not
even a new, empty table. Every load — rejected ones too — is recorded as a :class:`Load`
with its report, and audited; the report of a load that stored rows has the completeness
of the stored table per field. A file the readers refuse outright raises, and its rejected
load is recorded in a transaction of its own (:mod:`cityos.datahub.refusals`).

Without a header row, the file's columns are the schema's fields in order. Foreign keys
into another dataset need that the department may still read the referenced fields
(:mod:`cityos.datahub.foreign`).
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cityos.audit import service as audit
from cityos.audit.service import Actor
from cityos.datahub import foreign, keys, physical, refusals, storage
from cityos.datahub.models import (
    Dataset,
    Load,
    LoadMode,
    LoadStatus,
    OnError,
    QuarantinedRow,
)
from cityos.datahub.reader_base import Source
from cityos.datahub.report import HEADER_ERRORS, ErrorCollector, Report
from cityos.datahub.tableschema import FieldType, TableSchema
from cityos.datahub.validate import (
    PROBLEMS,
    ROW,
    VALID,
    ValidationContext,
    check_header,
    physical_dtypes,
    validate_frame,
)
from cityos.db import utcnow
from cityos.errors import Conflict, InvalidInput, PayloadTooLarge, Unprocessable

MAX_QUARANTINE = 100_000  # invalid rows kept per load; the report counts them all
# Rows per checked batch: about this many cells (fewer batches cost less per row: each has
# a fixed planning cost), between the two bounds below. Peak memory grows with it.
BATCH_CELLS = 4_000_000
BATCH_ROWS = (10_000, 500_000)
# Structural problems that lose nothing (the row is empty): warnings, not errors.
_HARMLESS = frozenset({"blank-row"})
# What the readers raise for a file they cannot read at all (before anything is stored).
_UNREADABLE = (InvalidInput, PayloadTooLarge, Unprocessable)


@dataclass(frozen=True, slots=True)
class LoadOptions:
    mode: LoadMode = LoadMode.APPEND
    on_error: OnError = OnError.REJECT
    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header: bool | None = None
    sheet: str | None = None
    batch_size: int | None = None  # rows per batch; None: :func:`batch_rows`


@dataclass(slots=True)
class _Checked:
    """What the two passes found."""

    report: Report
    parts: list[Path]
    flagged: pl.DataFrame  # __row, __problem: rows the whole-file checks found invalid
    quarantine: list[pl.DataFrame] = field(default_factory=list)  # __row, cells…, __problems
    structural: list[dict[str, Any]] = field(default_factory=list)  # ragged rows (kept ones)


# --- the stored side -----------------------------------------------------------------------


def _stored_values(connection: Connection, table: Table) -> keys.StoredValues | None:
    if not storage.has_table(connection, table):
        return None

    def values(columns: Sequence[str]) -> pl.DataFrame:
        return storage.distinct_values(connection, table, columns)

    return values


# --- pass 1 and 2 --------------------------------------------------------------------------


def _key_columns(schema: TableSchema) -> list[str]:
    """The physical columns the whole-file checks read."""
    names: list[str] = list(schema.primary_key)
    for unique_key in schema.unique_keys:
        names.extend(unique_key)
    names.extend(f.name for f in schema.fields if f.constraints.unique)
    for foreign_key in schema.foreign_keys:
        names.extend(foreign_key.fields)
        if foreign_key.resource == "":
            names.extend(foreign_key.reference_fields)
    return keys.physical_columns(schema, list(dict.fromkeys(names)))


def batch_rows(columns: int) -> int:
    """Rows per batch for a file of ``columns`` columns (see :data:`BATCH_CELLS`)."""
    low, high = BATCH_ROWS
    return max(low, min(high, BATCH_CELLS // max(columns, 1)))


def _check_file(
    db_session: Session,
    source: Source,
    *,
    schema: TableSchema,
    table: Table,
    mode: LoadMode,
    area_codes: frozenset[str],
    folder: Path,
    all_columns: bool,
    quarantine: bool,
    batch_size: int | None,
    progress: Callable[[int], None] | None,
) -> _Checked:
    collector = ErrorCollector()
    header, renames, warnings = _columns(source, schema, collector)
    context = ValidationContext(area_codes=area_codes, header=header)
    wanted = None if all_columns else [ROW, VALID, *_key_columns(schema)]
    parts: list[Path] = []
    kept: list[pl.DataFrame] = []
    kept_rows = rows = invalid = 0
    for batch in source.batches(batch_size or batch_rows(len(header))):
        if renames:
            batch = batch.rename(renames)
        result = validate_frame(
            batch, schema=schema, context=context, collector=collector, with_problems=quarantine
        )
        typed = result.typed.with_columns(result.valid.alias(VALID))
        if wanted is not None:
            typed = typed.select(wanted)
        part = folder / f"part-{len(parts):05d}.parquet"
        typed.write_parquet(part, compression="uncompressed", statistics=False)
        parts.append(part)
        rows += batch.height
        invalid += batch.height - int(result.valid.sum())
        if result.problems is not None and kept_rows < MAX_QUARANTINE:
            room = result.problems.head(MAX_QUARANTINE - kept_rows)
            kept.append(room)
            kept_rows += room.height
        if progress is not None:
            progress(rows)
    structural = _structural(source, collector, warnings)
    broken = sum(n for kind, n in source.problem_counts.items() if kind not in _HARMLESS)
    flagged = pl.DataFrame(schema={ROW: pl.Int64, keys.PROBLEM: pl.String})
    if parts and not collector.has(HEADER_ERRORS):
        connection = db_session.connection()
        flagged = keys.check_keys(
            pl.scan_parquet(parts),
            schema=schema,
            collector=collector,
            mode=mode,
            stored=_stored_values(connection, table),
            foreign=foreign.values(db_session, connection, schema),
        )
        invalid += flagged.get_column(ROW).n_unique()
    report = Report(
        rows=rows + broken,
        valid_rows=rows - invalid,
        invalid_rows=invalid + broken,
        errors=collector.groups,
        warnings=warnings,
        format=source.info.format,
        encoding=source.info.encoding or "",
        columns=header,
    )
    return _Checked(
        report=report, parts=parts, flagged=flagged, quarantine=kept, structural=structural
    )


def _columns(
    source: Source, schema: TableSchema, collector: ErrorCollector
) -> tuple[list[str], dict[str, str], list[str]]:
    """The file's columns by field name, the renames its batches need, and warnings.

    With a header row, columns match fields by name (:func:`check_header`). Without one,
    they are the schema's fields in order — when there are as many; else the load is
    rejected (``column-count``).
    """
    columns = list(source.info.columns)
    if source.info.header:
        return columns, {}, check_header(schema, columns, collector)
    names = list(schema.names)
    listed = ", ".join(names)
    if len(columns) == len(names):
        warning = (
            f"The file has no header row: its {len(names)} columns were read as the "
            f"schema's fields in order ({listed}). If the first row names the columns, "
            "load with header=true."
        )
        return names, dict(zip(columns, names, strict=True)), [warning]
    collector.add(
        "column-count",
        None,
        message=(
            f"the file has no header row and {len(columns)} columns, but the schema has "
            f"{len(names)} fields ({listed}): add a first row with the field names, or give "
            "one column per field in the schema's order"
        ),
        count=1,
    )
    return columns, {}, []


def _structural(
    source: Source, collector: ErrorCollector, warnings: list[str]
) -> list[dict[str, Any]]:
    """Report the reader's problems (ragged rows…); the rows to quarantine (no cells)."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    quarantined: list[dict[str, Any]] = []
    for problem in source.problems:
        by_kind.setdefault(problem.type, []).append(
            {"row": problem.row, "value": "", "message": problem.message}
        )
        if problem.type not in _HARMLESS:
            quarantined.append(
                {"row_number": problem.row, "data": {}, "problems": [problem.message]}
            )
    for kind, count in source.problem_counts.items():
        examples = by_kind.get(kind, [])
        if kind in _HARMLESS:
            warnings.extend(str(example["message"]) for example in examples[:5])
            continue
        message = examples[0]["message"] if examples else kind
        field_name = next((p.column for p in source.problems if p.type == kind and p.column), None)
        collector.add(
            kind,
            field_name,
            message=_structural_message(kind, message),
            count=count,
            examples=examples,
        )
    return quarantined


def _structural_message(kind: str, first: str) -> str:
    if kind == "extra-cell":
        return "rows have more cells than the header has columns; remove the extra cells"
    if kind == "missing-cell":
        return "rows have fewer cells than the header has columns; fill in the missing cells"
    if kind == "formula-cell":
        return (
            "cells hold formulas without a saved value; paste values (Paste Special → Values) "
            "and save again"
        )
    return first


# --- pass 3: storing -----------------------------------------------------------------------


def _valid_frames(
    parts: Sequence[Path], flagged: pl.DataFrame, columns: Sequence[str]
) -> Iterator[pl.DataFrame]:
    bad = flagged.get_column(ROW).unique()
    for part in parts:
        frame = pl.read_parquet(part)
        keep = pl.col(VALID)
        if bad.len():
            keep = keep & ~pl.col(ROW).is_in(bad.implode())
        yield frame.filter(keep).select(columns)


def _render(schema: TableSchema) -> list[pl.Expr]:
    """The typed columns as text, by field name (for quarantined rows)."""
    exprs: list[pl.Expr] = []
    for data_field in schema.fields:
        if data_field.type is FieldType.GEOPOINT:
            lon, lat = data_field.columns
            text = pl.concat_str([pl.col(lon), pl.col(lat)], separator=",")
        else:
            text = pl.col(data_field.column).cast(pl.String)
        exprs.append(text.alias(data_field.name))
    return exprs


def _quarantine_rows(
    checked: _Checked, schema: TableSchema, load_id: int
) -> tuple[list[dict[str, Any]], int]:
    """Rows for :class:`QuarantinedRow` (at most :data:`MAX_QUARANTINE`), and how many
    invalid rows there were in all."""
    out: list[dict[str, Any]] = [dict(row, load_id=load_id) for row in checked.structural]
    for frame in checked.quarantine:
        problems = frame.get_column(PROBLEMS).to_list()
        cells = frame.drop(PROBLEMS).to_dicts()
        for row, listed in zip(cells, problems, strict=True):
            number = row.pop(ROW)
            out.append({"load_id": load_id, "row_number": number, "data": row, "problems": listed})
    if checked.flagged.height:
        grouped = checked.flagged.group_by(ROW).agg(pl.col(keys.PROBLEM)).sort(ROW)
        rendered = (
            pl.scan_parquet(checked.parts)
            .filter(pl.col(ROW).is_in(grouped.get_column(ROW).implode()))
            .select(pl.col(ROW), *_render(schema))
            .collect()
            .join(grouped, on=ROW)
            .sort(ROW)
        )
        for row in rendered.to_dicts():
            number = row.pop(ROW)
            listed = row.pop(keys.PROBLEM)
            out.append({"load_id": load_id, "row_number": number, "data": row, "problems": listed})
    out.sort(key=lambda item: int(item["row_number"]))
    return out[:MAX_QUARANTINE], max(len(out), checked.report.invalid_rows)


def _store(
    db_session: Session,
    *,
    table: Table,
    schema: TableSchema,
    mode: LoadMode,
    frames: Iterator[pl.DataFrame],
) -> int:
    connection = db_session.connection()
    try:
        written = storage.store(connection, table, schema, frames, mode=mode)
    except (DBAPIError, sqlite3.Error, psycopg.Error) as error:
        raise Conflict(
            "The rows could not be stored, so nothing was stored: "
            f"{str(error).splitlines()[0]}. Check the dataset's keys and try again.",
        ) from error
    return written


# --- the public functions ------------------------------------------------------------------


def _open(path: Path, *, filename: str, options: LoadOptions, schema: TableSchema) -> Source:
    from cityos.datahub import readers  # the readers pull in every format's library

    return readers.open_source(
        path,
        filename=filename,
        format=options.format,
        encoding=options.encoding,
        delimiter=options.delimiter,
        header=options.header,
        sheet=options.sheet,
        expected_columns=schema.names,
    )


def _safe_name(filename: str) -> str:
    from cityos.datahub import readers

    return readers.safe_filename(filename)[:300]


def _require_mode(schema: TableSchema, options: LoadOptions) -> None:
    if options.mode is LoadMode.UPSERT and not schema.primary_key:
        raise InvalidInput(
            "Mode upsert updates rows by their primary key, and this dataset's schema has "
            "none. Add a primaryKey to the schema, or load with mode append or replace."
        )


def validate_file(
    db_session: Session,
    *,
    dataset: Dataset,
    schema: TableSchema,
    version: int,
    path: Path,
    filename: str,
    options: LoadOptions = LoadOptions(),
    area_codes: frozenset[str] = frozenset(),
    progress: Callable[[int], None] | None = None,
) -> Report:
    """The report a load of this file would give; nothing is stored or recorded."""
    _require_mode(schema, options)
    foreign.require_readable(db_session, dataset=dataset, schema=schema)
    table = physical.table_for(schema, dataset_id=dataset.id, version=version)
    with (
        _open(path, filename=filename, options=options, schema=schema) as source,
        tempfile.TemporaryDirectory(prefix="cityos-validate-") as folder,
    ):
        checked = _check_file(
            db_session,
            source,
            schema=schema,
            table=table,
            mode=options.mode,
            area_codes=area_codes,
            folder=Path(folder),
            all_columns=False,
            quarantine=False,
            batch_size=options.batch_size,
            progress=progress,
        )
    checked.report.filename = _safe_name(filename)
    return checked.report


def _completeness(
    connection: Connection,
    table: Table,
    schema: TableSchema,
    *,
    counted: dict[str, int],
    written: int,
    stored: int,
) -> dict[str, float]:
    """% of the stored rows with a value, per field (a geopoint by its longitude).

    When every stored row came from this load (a replace, a first load, or an upsert that
    touched every row) the counts made while storing suffice; else one ``COUNT`` per
    column over the table.
    """
    if stored <= 0:
        return {}
    columns = [data_field.columns[0] for data_field in schema.fields]
    if written == stored:
        values = [counted.get(column, 0) for column in columns]
    else:
        values = storage.value_counts(connection, table, columns)
    return {
        data_field.name: round(100.0 * count / stored, 1)
        for data_field, count in zip(schema.fields, values, strict=True)
    }


def _counting(frames: Iterator[pl.DataFrame], counted: dict[str, int]) -> Iterator[pl.DataFrame]:
    """``frames``, counting the values (not null) of each column into ``counted``."""
    for frame in frames:
        nulls = frame.null_count().row(0)
        for column, missing in zip(frame.columns, nulls, strict=True):
            counted[column] = counted.get(column, 0) + frame.height - int(missing)
        yield frame


def load_file(
    db_session: Session,
    *,
    dataset: Dataset,
    schema: TableSchema,
    version: int,
    path: Path,
    filename: str,
    options: LoadOptions,
    actor: Actor,
    area_codes: frozenset[str],
    progress: Callable[[int], None] | None = None,
) -> Load:
    """Check ``path`` and store its rows in the dataset's table for ``version``.

    Runs in the caller's transaction (the caller commits). A file the readers cannot read
    (:class:`InvalidInput`, :class:`PayloadTooLarge`, :class:`Unprocessable` before
    anything is stored) is recorded as a rejected load in a transaction of its own
    (:mod:`cityos.datahub.refusals`) and the error raised again; a failure while storing
    raises :class:`Conflict` and the caller's rollback leaves nothing behind. A foreign key
    into fields the department may no longer read raises :class:`Forbidden` first.
    """
    _require_mode(schema, options)
    foreign.require_readable(db_session, dataset=dataset, schema=schema)
    started = utcnow()
    table = physical.table_for(schema, dataset_id=dataset.id, version=version)
    quarantine = options.on_error is OnError.QUARANTINE

    def refuse(error: InvalidInput | PayloadTooLarge | Unprocessable) -> None:
        refusals.record_refusal(
            db_session,
            dataset=dataset,
            version=version,
            filename=_safe_name(filename),
            mode=options.mode.value,
            on_error=options.on_error.value,
            format=options.format,
            encoding=options.encoding,
            actor=actor,
            started=started,
            error=error,
        )

    try:
        source = _open(path, filename=filename, options=options, schema=schema)
    except _UNREADABLE as error:
        refuse(error)
        raise
    with source, tempfile.TemporaryDirectory(prefix="cityos-load-") as folder:
        try:
            checked = _check_file(
                db_session,
                source,
                schema=schema,
                table=table,
                mode=options.mode,
                area_codes=area_codes,
                folder=Path(folder),
                all_columns=True,
                quarantine=quarantine,
                batch_size=options.batch_size,
                progress=progress,
            )
        except _UNREADABLE as error:
            refuse(error)
            raise
        report = checked.report
        report.filename = _safe_name(filename)
        header_errors = any(group.type in HEADER_ERRORS for group in report.errors)
        if report.ok:
            status = LoadStatus.COMMITTED
        elif not quarantine or header_errors or report.valid_rows <= 0:
            status = LoadStatus.REJECTED
        else:
            status = LoadStatus.PARTIAL
        written = 0
        if status is not LoadStatus.REJECTED:
            columns = list(physical_dtypes(schema))
            counted: dict[str, int] = {}
            frames = _counting(_valid_frames(checked.parts, checked.flagged, columns), counted)
            written = _store(
                db_session, table=table, schema=schema, mode=options.mode, frames=frames
            )
            connection = db_session.connection()
            dataset.row_count = storage.count_rows(connection, table)
            dataset.data_updated_at = utcnow()
            report.completeness = _completeness(
                connection,
                table,
                schema,
                counted=counted,
                written=written,
                stored=dataset.row_count,
            )
        load = Load(
            dataset_id=dataset.id,
            schema_version=version,
            mode=options.mode.value,
            on_error=options.on_error.value,
            filename=report.filename,
            format=report.format,
            encoding=report.encoding,
            status=status.value,
            rows_read=report.rows,
            rows_loaded=written,
            rows_rejected=report.invalid_rows,
            actor=actor.label[:200],
            started_at=started,
        )
        db_session.add(load)
        db_session.flush()
        if status is LoadStatus.PARTIAL:
            quarantined, total = _quarantine_rows(checked, schema, load.id)
            if total > len(quarantined):
                report.warnings.append(
                    f"{total:,} rows are invalid; the first {len(quarantined):,} are kept in "
                    "quarantine."
                )
            if quarantined:
                db_session.execute(insert(QuarantinedRow), quarantined)
    load.report = report.to_dict()
    load.finished_at = utcnow()
    audit.record(
        db_session,
        actor=actor,
        action="datahub.load",
        entity_type="dataset",
        entity_id=dataset.name,
        summary=f"{status.value} ({options.mode.value}) {filename}: {report.summary}",
        after={"load_id": load.id, "status": status.value, "rows_loaded": written},
    )
    return load
