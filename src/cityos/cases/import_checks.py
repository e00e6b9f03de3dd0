"""Checking a case import: the mapping against the file and the city, then every row.

All rows are checked at once with polars expressions. :func:`check_rows` returns every row
with its parsed fields, and the problems found, one per (row, column): the row's number,
the file's column, the value and the reason in words. See :mod:`cityos.cases.importer`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.cases.catalog import list_categories
from cityos.cases.import_mapping import ImportMapping
from cityos.cases.import_reader import ROW, Table
from cityos.cases.intake import MAX_DESCRIPTION
from cityos.cases.models import CaseStatus
from cityos.errors import Unprocessable
from cityos.geo import service as geo_service

CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
LIMITS = {"description": MAX_DESCRIPTION, "address": 500, "zipcode": 20, "resolution_note": 4000}
ENDED = (CaseStatus.RESOLVED.value, CaseStatus.CLOSED.value)
TEXT_FIELDS = ("description", "address", "close_reason", "resolution_note", "zipcode")
FUTURE_TOLERANCE = timedelta(minutes=5)


# --- checking the mapping against the file and the database ------------------------------


@dataclass(frozen=True, slots=True)
class Lookups:
    category_ids: dict[str, int]  # service code → id
    department_ids: dict[str, int]  # department code → id


def check_references(db_session: Session, mapping: ImportMapping, table: Table) -> Lookups:
    problems: list[dict[str, str]] = []
    for field, column in mapping.columns.used().items():
        if column not in table.columns:
            shown = ", ".join(table.columns[:40]) + (" …" if len(table.columns) > 40 else "")
            problems.append(
                {
                    "where": f"columns.{field}",
                    "message": f"{column!r} is not a column of {table.name} (its columns: {shown})",
                }
            )
    categories = {c.service_code: c.id for c in list_categories(db_session, include_inactive=True)}
    for value, code in mapping.categories.map.items():
        if code not in categories:
            problems.append(
                {
                    "where": f"categories.map[{value!r}]",
                    "message": f"there is no service {code!r} in the catalog",
                }
            )
    if mapping.categories.default and mapping.categories.default not in categories:
        problems.append(
            {
                "where": "categories.default",
                "message": f"there is no service {mapping.categories.default!r} in the catalog",
            }
        )
    departments = {d.code: d.id for d in auth_service.list_departments(db_session)}
    for value, code in mapping.departments.map.items():
        if code not in departments:
            problems.append(
                {
                    "where": f"departments.map[{value!r}]",
                    "message": f"there is no department {code!r}",
                }
            )
    if problems:
        raise Unprocessable(
            f"The mapping does not fit {table.name} or this city ({len(problems)} problem(s)); "
            f"nothing was imported. First: {problems[0]['where']}: {problems[0]['message']}.",
            details=problems,
        )
    return Lookups(categories, departments)


# --- checking the rows ----------------------------------------------------------------------


def _problems(
    frame: pl.DataFrame, condition: pl.Expr, *, column: str, value: pl.Expr, reason: pl.Expr
) -> pl.DataFrame:
    return frame.filter(condition).select(
        pl.col(ROW).alias("row"),
        pl.lit(column).alias("column"),
        value.cast(pl.String).str.slice(0, 200).alias("value"),
        reason.alias("reason"),
    )


def parse_datetimes(values: pl.Series, *, formats: Sequence[str], timezone: str) -> pl.Series:
    """Text → UTC (naive) datetimes; null where no format reads the value.

    Each format is tried only on the values the previous ones could not read. Formats with
    an offset (%z) give that instant; the others are wall-clock times in ``timezone``.
    """
    result = pl.Series(values.name, [None] * len(values), dtype=pl.Datetime("us"))
    todo = values.is_not_null()
    for fmt in formats:
        if not todo.any():
            break
        where = todo.arg_true()
        subset = values.gather(where)
        parsed = subset.str.strptime(pl.Datetime("us"), fmt, strict=False)
        if re.search(r"%[#:]?z", fmt):
            parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        else:
            parsed = (
                parsed.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
                .dt.convert_time_zone("UTC")
                .dt.replace_time_zone(None)
            )
        result = result.scatter(where, parsed)
        todo = result.is_null() & values.is_not_null()
    return result


def _text(frame: pl.DataFrame, column: str, field: str) -> pl.Expr:
    """The column's values stripped (empty → null); control characters dropped from text."""
    text = pl.col(column)
    if field in TEXT_FIELDS and frame[column].str.contains(CONTROL).any():
        text = text.str.replace_all(CONTROL, "")
    text = text.str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text).alias(field)


def _lookup(expr: pl.Expr, mapping: dict[str, Any], dtype: Any) -> pl.Expr:
    if not mapping:
        return pl.lit(None, dtype=dtype)
    return expr.replace_strict(mapping, default=None, return_dtype=dtype)


def check_rows(
    db_session: Session,
    table: Table,
    mapping: ImportMapping,
    *,
    lookups: Lookups,
    timezone: str,
    now: datetime,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(every row with its parsed fields, the problems found: row, column, value, reason)."""
    used = mapping.columns.used()
    frame = table.frame.select(
        pl.col(ROW), *(_text(table.frame, column, field) for field, column in used.items())
    )
    for field in (
        "closed",
        "acknowledged",
        "status",
        "close_reason",
        "resolution_note",
        "description",
        "address",
        "zipcode",
        "department",
        "priority",
    ):
        if field not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(field))
    found: list[pl.DataFrame] = [table.ragged]

    def problem(condition: pl.Expr, field: str, reason: pl.Expr, value: str | None = None) -> None:
        column = used.get(field, field)
        found.append(
            _problems(frame, condition, column=column, value=pl.col(value or field), reason=reason)
        )

    def required(field: str, what: str) -> None:
        problem(pl.col(field).is_null(), field, pl.lit(f"is empty: {what} is required"))

    # external ids: present, not too long, once per file
    prefix = f"{mapping.source}:"
    frame = frame.with_columns(
        (pl.lit(prefix) + pl.col("external_id")).alias("source_ref"),
        pl.col(ROW).first().over("external_id").alias("__first_row"),
    )
    required("external_id", "the case's id in the source system")
    problem(
        pl.col("source_ref").str.len_chars() > 200,
        "external_id",
        pl.lit("is longer than 200 characters with the source's name"),
    )
    problem(
        pl.col("external_id").is_not_null() & (pl.col("__first_row") != pl.col(ROW)),
        "external_id",
        pl.format("appears again in the file (first in row {})", pl.col("__first_row")),
    )

    # date-times
    formats = mapping.datetimes.all_formats()
    shown = " or ".join(repr(f) for f in formats[: max(1, len(mapping.datetimes.formats))])
    for field in ("opened", "closed", "acknowledged"):
        frame = frame.with_columns(
            parse_datetimes(frame[field], formats=formats, timezone=timezone).alias(f"{field}_at")
        )
        problem(
            pl.col(field).is_not_null() & pl.col(f"{field}_at").is_null(),
            field,
            pl.lit(f"cannot be read as a date-time in {timezone} (expected {shown})"),
        )
    required("opened", "the date-time the case was opened")
    naive_now = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
    problem(
        pl.col("opened_at") > naive_now + FUTURE_TOLERANCE,
        "opened",
        pl.lit(f"is in the future (check datetimes.timezone: {timezone})"),
    )
    for field in ("closed", "acknowledged"):
        problem(
            pl.col(f"{field}_at") < pl.col("opened_at"),
            field,
            pl.format("is before the case was opened ({})", pl.col("opened_at").dt.to_string()),
        )

    # category
    category_map = dict(mapping.categories.map)
    if mapping.categories.passthrough:
        category_map = {code: code for code in lookups.category_ids} | category_map
    code = _lookup(pl.col("category"), category_map, pl.String)
    if mapping.categories.unmapped == "default":
        code = pl.coalesce(code, pl.lit(mapping.categories.default))
    frame = frame.with_columns(code.alias("service_code"))
    frame = frame.with_columns(
        _lookup(pl.col("service_code"), lookups.category_ids, pl.Int64).alias("category_id")
    )
    if mapping.categories.unmapped == "reject":
        required("category", "the category")
    problem(
        pl.col("category").is_not_null() & pl.col("category_id").is_null(),
        "category",
        pl.lit("is not a known category: add it to categories.map in the mapping"),
    )

    # status and close reason
    frame = _statuses(frame, mapping)
    if mapping.columns.status:
        if mapping.statuses.unmapped == "reject":
            required("status", "the status")
        problem(
            pl.col("status").is_not_null() & pl.col("mapped_status").is_null(),
            "status",
            pl.lit("is not a known status: add it to statuses.map in the mapping"),
        )
    ended = pl.col("final_status").is_in(ENDED)
    problem(
        ended & pl.col("closed_at").is_null() & pl.col("closed").is_null(),
        "closed",
        pl.format(
            "is empty, but the case has ended (status {}): give the date-time it was closed",
            pl.col("final_status"),
        ),
    )
    problem(
        (pl.col("final_status") == CaseStatus.CLOSED.value) & pl.col("final_reason").is_null(),
        "close_reason",
        pl.lit(
            "matches no rule of close_reasons and there is no close_reasons.default: a closed "
            "case needs a reason (duplicate, not_our_responsibility, no_further_action, "
            "referred_outside)"
        ),
        value="close_reason",
    )

    # place
    for field, limit in (("lat", 90.0), ("lon", 180.0)):
        frame = frame.with_columns(
            pl.col(field)
            .str.replace(",", ".", literal=True)
            .cast(pl.Float64, strict=False)
            .alias(f"{field}_value")
        )
        required(field, "the " + ("latitude" if field == "lat" else "longitude"))
        number = pl.col(f"{field}_value")
        problem(
            pl.col(field).is_not_null() & (number.is_null() | number.is_nan()),
            field,
            pl.lit("is not a number"),
        )
        problem(
            number.abs() > limit,
            field,
            pl.lit(
                f"is not a {'latitude' if field == 'lat' else 'longitude'} (-{limit:g}..{limit:g})"
            ),
        )
    frame = _locate(db_session, frame)
    where = f"{used['lat']}/{used['lon']}"
    found.append(
        _problems(
            frame,
            pl.col("__outside"),
            column=where,
            value=pl.format("{}, {}", pl.col("lat"), pl.col("lon")),
            reason=pl.when(pl.col("__swapped_inside"))
            .then(pl.lit("lies outside the city; the latitude and longitude look swapped"))
            .otherwise(pl.lit("lies outside the city")),
        )
    )

    # text lengths
    for field, limit in LIMITS.items():
        problem(
            pl.col(field).str.len_chars() > limit,
            field,
            pl.format(
                "is {} characters long; at most {} are accepted",
                pl.col(field).str.len_chars(),
                pl.lit(limit),
            ),
        )

    frame = frame.with_columns(
        _lookup(
            _lookup(pl.col("department"), dict(mapping.departments.map), pl.String),
            lookups.department_ids,
            pl.Int64,
        ).alias("department_id"),
        _lookup(
            pl.col("priority"), {k: v.value for k, v in mapping.priorities.map.items()}, pl.String
        ).alias("priority_value"),
    )
    problems = pl.concat(found, how="vertical_relaxed").sort("row", maintain_order=True)
    return frame, problems


def _statuses(frame: pl.DataFrame, mapping: ImportMapping) -> pl.DataFrame:
    """mapped_status (the status map), final_status and final_reason (after close rules)."""
    if mapping.columns.status:
        mapped = _lookup(
            pl.col("status"), {k: v.value for k, v in mapping.statuses.map.items()}, pl.String
        )
        if mapping.statuses.unmapped == "default" and mapping.statuses.default is not None:
            mapped = pl.coalesce(mapped, pl.lit(mapping.statuses.default.value))
    else:  # no status column: a closed date-time means resolved
        mapped = (
            pl.when(pl.col("closed").is_not_null())
            .then(pl.lit(CaseStatus.RESOLVED.value))
            .otherwise(pl.lit(CaseStatus.SUBMITTED.value))
        )
    frame = frame.with_columns(mapped.alias("mapped_status"))
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    for rule in reversed(mapping.close_reasons.rules):  # the first rule wins
        reason = (
            pl.when(pl.col("close_reason").str.contains(f"(?i){rule.pattern}"))
            .then(pl.lit(str(rule.reason)))
            .otherwise(reason)
        )
    ended = pl.col("mapped_status").is_in(ENDED)
    resolved = pl.lit(CaseStatus.RESOLVED.value)
    frame = frame.with_columns(pl.when(ended).then(reason).alias("__rule"))
    default = mapping.close_reasons.default.value if mapping.close_reasons.default else None
    return frame.with_columns(
        pl.when(~ended)
        .then(pl.col("mapped_status"))
        .when(pl.col("__rule") == "resolved")
        .then(resolved)
        .when(pl.col("__rule").is_not_null())
        .then(pl.lit(CaseStatus.CLOSED.value))
        .otherwise(pl.col("mapped_status"))
        .alias("final_status"),
        pl.when(~ended | (pl.col("__rule") == "resolved"))
        .then(None)
        .when(pl.col("__rule").is_not_null())
        .then(pl.col("__rule"))
        .when(pl.col("mapped_status") == CaseStatus.CLOSED.value)
        .then(pl.lit(default, dtype=pl.String))
        .alias("final_reason"),
    )


def _locate(db_session: Session, frame: pl.DataFrame) -> pl.DataFrame:
    """__outside: a valid WGS84 point that no area contains (and whether swapped fits)."""
    lat = frame["lat_value"].fill_nan(None).to_numpy()
    lon = frame["lon_value"].fill_nan(None).to_numpy()
    valid = ~(np.isnan(lat) | np.isnan(lon)) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    outside = np.zeros(len(lat), dtype=bool)
    swapped = np.zeros(len(lat), dtype=bool)
    if valid.any():
        located = geo_service.locate_many(db_session, lons=lon[valid], lats=lat[valid])
        out = ~located.inside
        outside[np.flatnonzero(valid)[out]] = True
        rows = np.flatnonzero(valid)[out]
        fits = (np.abs(lon[rows]) <= 90) & (np.abs(lat[rows]) <= 180)
        if fits.any():
            again = geo_service.locate_many(db_session, lons=lat[rows[fits]], lats=lon[rows[fits]])
            swapped[rows[fits][again.inside]] = True
    return frame.with_columns(
        pl.Series("__outside", outside), pl.Series("__swapped_inside", swapped)
    )
