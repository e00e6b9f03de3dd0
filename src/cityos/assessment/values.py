"""Indicator values: entered, imported or snapshotted from live metrics.

Writes are batched SQLAlchemy Core upserts keyed on ``(unit, indicator, year)``: one
statement per 500 values, in the caller's transaction, after every record was checked — so
a write either stores every value or none. Each value remembers its source (``entered``,
``import:<file name>``, ``live``) and who wrote it last.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cityos.assessment.framework import Framework
from cityos.assessment.importers import ImportedValues
from cityos.assessment.models import AssessUnit, IndicatorValue
from cityos.assessment.units import UnitInput, check_code, upsert_units
from cityos.audit.service import Actor, record
from cityos.db import utcnow
from cityos.errors import InvalidInput, NotFound

MIN_YEAR, MAX_YEAR = 1900, 2200
BATCH = 500
MAX_PROBLEMS = 50  # listed in an error's details


@dataclass(frozen=True, slots=True)
class ValueRecord:
    """One value to store; ``value=None`` removes the stored value of that cell."""

    unit_code: str
    indicator_code: str
    year: int
    value: float | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class ValuesReport:
    written: int
    deleted: int
    units_created: int = 0
    units_updated: int = 0
    problems: tuple[str, ...] = ()  # what an import skipped (the rest was stored)

    def to_dict(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "deleted": self.deleted,
            "units_created": self.units_created,
            "units_updated": self.units_updated,
            "problems": list(self.problems),
        }


def _record_problems(index: int, item: ValueRecord) -> list[str]:
    problems = []
    for problem in (check_code(item.unit_code), check_code(item.indicator_code, "indicator code")):
        if problem:
            problems.append(problem)
    if isinstance(item.year, bool) or not isinstance(item.year, int):
        problems.append(f"the year {item.year!r} is not a whole number")
    elif not MIN_YEAR <= item.year <= MAX_YEAR:
        problems.append(f"the year {item.year} is not between {MIN_YEAR} and {MAX_YEAR}")
    value = item.value
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        problems.append(f"the value {value!r} is not a finite number")
    return problems


def check_records(records: Sequence[ValueRecord]) -> None:
    """InvalidInput listing (up to 50) bad records with their row number (1-based)."""
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(records):
        for message in _record_problems(index, item):
            problems.append(
                {
                    "row": index + 1,
                    "unit": str(item.unit_code)[:64],
                    "indicator": str(item.indicator_code)[:64],
                    "message": message,
                }
            )
    if problems:
        first = problems[0]
        raise InvalidInput(
            f"{len(problems)} value(s) cannot be stored; nothing was written. First: row "
            f"{first['row']} ({first['unit']}, {first['indicator']}): {first['message']}.",
            details=problems[:MAX_PROBLEMS],
        )


def _check_units(db_session: Session, codes: set[str]) -> None:
    stored = set(
        db_session.scalars(select(AssessUnit.code).where(AssessUnit.code.in_(sorted(codes))))
    )
    missing = sorted(codes - stored)
    if missing:
        raise NotFound(
            f"Unknown unit(s) {', '.join(missing[:20])}: add them first (PUT /api/assess/units) "
            "or import a file that names them; nothing was written.",
            details={"unknown_units": missing[:MAX_PROBLEMS]},
        )


def _upsert(db_session: Session, rows: list[dict[str, Any]]) -> None:
    table = cast(Table, IndicatorValue.__table__)
    dialect = db_session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    for start in range(0, len(rows), BATCH):
        statement = module.insert(table).values(rows[start : start + BATCH])
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.unit_code, table.c.indicator_code, table.c.year],
            set_={
                "value": excluded.value,
                "source": excluded.source,
                "note": excluded.note,
                "updated_at": excluded.updated_at,
                "updated_by": excluded.updated_by,
            },
        )
        db_session.execute(statement)


def _delete(db_session: Session, keys: list[tuple[str, str, int]]) -> int:
    table = cast(Table, IndicatorValue.__table__)
    key = tuple_(table.c.unit_code, table.c.indicator_code, table.c.year)
    deleted = 0
    for start in range(0, len(keys), BATCH):
        result = db_session.execute(delete(table).where(key.in_(keys[start : start + BATCH])))
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted


def _expire(db_session: Session) -> None:
    """Core writes bypass the identity map: make loaded values reload."""
    for instance in list(db_session.identity_map.values()):
        if isinstance(instance, IndicatorValue):
            db_session.expire(instance)


def set_values(
    db_session: Session, *, records: Sequence[ValueRecord], source: str, actor: Actor
) -> ValuesReport:
    """Store (or, for ``value=None``, remove) values, all or nothing.

    Every record is checked and every unit must exist before anything is written. A later
    record for the same cell replaces an earlier one."""
    if not source.strip() or len(source) > 200:
        raise InvalidInput("The source of the values must be 1–200 characters, e.g. 'entered'.")
    check_records(records)
    if not records:
        return ValuesReport(written=0, deleted=0)
    _check_units(db_session, {item.unit_code for item in records})
    latest: dict[tuple[str, str, int], ValueRecord] = {}
    for item in records:
        latest[(item.unit_code, item.indicator_code, item.year)] = item
    now, label = utcnow(), actor.label[:200]
    rows = [
        {
            "unit_code": item.unit_code,
            "indicator_code": item.indicator_code,
            "year": item.year,
            "value": float(item.value),
            "source": source,
            "note": item.note,
            "updated_at": now,
            "updated_by": label,
        }
        for item in latest.values()
        if item.value is not None
    ]
    removals = [key for key, item in latest.items() if item.value is None]
    if rows:
        _upsert(db_session, rows)
    deleted = _delete(db_session, removals) if removals else 0
    _expire(db_session)
    record(
        db_session,
        actor=actor,
        action="assess.values.set",
        entity_type="assess_values",
        entity_id=source[:100],
        summary=f"Stored {len(rows)} value(s) and removed {deleted} (source {source})",
        after={
            "written": len(rows),
            "deleted": deleted,
            "units": sorted({item.unit_code for item in records})[:20],
            "indicators": sorted({item.indicator_code for item in records})[:20],
        },
    )
    return ValuesReport(written=len(rows), deleted=deleted)


def import_values(
    db_session: Session,
    *,
    imported: ImportedValues,
    actor: Actor,
    framework: Framework | None = None,
    source: str | None = None,
) -> ValuesReport:
    """Store values read by ``importers.read_values``, creating or updating their units.

    With ``framework``, the file's indicator keys are matched to its codes (by code, source
    header or name; see ``ImportedValues.keyed_by``) and unmatched keys are left out.
    Units and values are written in the caller's transaction, after every value was
    checked: when one is refused nothing is written."""
    if framework is not None:
        imported = imported.keyed_by(framework)
    records = [
        ValueRecord(unit_code=unit, indicator_code=code, year=year, value=value)
        for unit, year, code, value in imported.records
    ]
    check_records(records)
    units = [
        UnitInput(
            code=unit.code,
            name_en=unit.name_en,
            name_zh=unit.name_zh,
            country=unit.country or "",
            region=unit.group,
            tier=unit.tier,
            attributes=dict(unit.attributes),
        )
        for unit in imported.units
    ]
    unit_report = upsert_units(db_session, units=units, actor=actor)
    report = set_values(
        db_session,
        records=records,
        source=source or f"import:{imported.filename or 'file'}"[:200],
        actor=actor,
    )
    return ValuesReport(
        written=report.written,
        deleted=report.deleted,
        units_created=unit_report.created,
        units_updated=unit_report.updated,
        problems=imported.problems,
    )


def values_for(
    db_session: Session,
    *,
    unit_codes: Iterable[str],
    indicator_codes: Iterable[str],
    years: Iterable[int] | None = None,
) -> list[tuple[str, int, str, float]]:
    """Stored values as ``(unit, year, indicator, value)`` records (the panel's input)."""
    units, codes = sorted(set(unit_codes)), sorted(set(indicator_codes))
    if not units or not codes:
        return []
    table = cast(Table, IndicatorValue.__table__)
    query = select(table.c.unit_code, table.c.year, table.c.indicator_code, table.c.value).where(
        table.c.unit_code.in_(units), table.c.indicator_code.in_(codes)
    )
    if years is not None:
        query = query.where(table.c.year.in_(sorted(set(years))))
    return [(str(u), int(y), str(c), float(v)) for u, y, c, v in db_session.execute(query)]


def list_values(
    db_session: Session,
    *,
    unit_code: str | None = None,
    indicator_code: str | None = None,
    year: int | None = None,
    limit: int = 1000,
) -> list[IndicatorValue]:
    """Stored values, filtered, by unit, indicator and year (at most ``limit``)."""
    query = select(IndicatorValue)
    if unit_code:
        query = query.where(IndicatorValue.unit_code == unit_code)
    if indicator_code:
        query = query.where(IndicatorValue.indicator_code == indicator_code)
    if year is not None:
        query = query.where(IndicatorValue.year == year)
    query = query.order_by(
        IndicatorValue.unit_code, IndicatorValue.indicator_code, IndicatorValue.year
    ).limit(max(1, min(limit, 100_000)))
    return list(db_session.scalars(query))
