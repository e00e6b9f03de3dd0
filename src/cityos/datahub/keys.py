"""Whole-file checks: unique fields, the primary key, unique keys and foreign keys.

They run after every batch has been typed, lazily over the typed rows (a ``LazyFrame``
scanning the load's temporary Parquet files: ``__row``, ``__valid`` and the physical
columns). Only rows valid so far take part: a row already wrong is reported once, for
what is wrong with it.

A repeated key reports the later row, with the row it repeats (``first_row``); the first
occurrence stays valid (a partial load keeps it). In append mode a key already stored is
an error too; in upsert mode it is the row to update. Foreign keys to this dataset look in
this file (and, for append and upsert, the stored rows); foreign keys to another dataset
look in that dataset's stored rows, given by the caller (``foreign``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from cityos.datahub.models import LoadMode
from cityos.datahub.report import MAX_EXAMPLES, ErrorCollector
from cityos.datahub.tableschema import ForeignKey, TableSchema
from cityos.datahub.validate import ROW, VALID

FIRST = "__first"
PROBLEM = "__problem"

# The distinct stored values of some physical columns (typed like this file's columns).
StoredValues = Callable[[Sequence[str]], pl.DataFrame]
# The distinct referenced values of a foreign key to another dataset, with this file's
# physical column names; None when that dataset has no table (yet).
ForeignValues = Callable[[ForeignKey], pl.DataFrame | None]


@dataclass(frozen=True, slots=True)
class _Key:
    type: str  # "primary-key" or "unique"
    fields: tuple[str, ...]
    columns: list[str]

    @property
    def label(self) -> str:
        return ", ".join(self.fields)


def physical_columns(schema: TableSchema, names: Sequence[str]) -> list[str]:
    columns: list[str] = []
    for name in names:
        columns.extend(schema.field(name).columns)
    return columns


def _keys(schema: TableSchema) -> list[_Key]:
    keys: list[_Key] = []
    seen: set[tuple[str, ...]] = set()

    def add(kind: str, fields: tuple[str, ...]) -> None:
        if fields and fields not in seen:
            seen.add(fields)
            keys.append(_Key(kind, fields, physical_columns(schema, fields)))

    add("primary-key", schema.primary_key)
    for unique_key in schema.unique_keys:
        add("unique", unique_key)
    for data_field in schema.fields:
        if data_field.constraints.unique:
            add("unique", (data_field.name,))
    return keys


def _text(columns: Sequence[str]) -> pl.Expr:
    return pl.concat_str([pl.col(c).cast(pl.String) for c in columns], separator=", ")


def _conform(frame: pl.DataFrame, like: dict[str, pl.DataType]) -> pl.LazyFrame:
    return frame.lazy().select(pl.col(c).cast(like[c], strict=False) for c in like)


def _report(
    collector: ErrorCollector,
    flagged: pl.DataFrame,
    *,
    kind: str,
    field: str,
    message: str,
    first: bool = False,
) -> pl.DataFrame:
    """Add ``flagged`` (``__row``, ``__value`` [, ``__first``]) to the report; its rows."""
    if flagged.is_empty():
        return pl.DataFrame(schema={ROW: pl.Int64, PROBLEM: pl.String})
    flagged = flagged.sort(ROW)
    shown = [pl.col(ROW).alias("row"), pl.col("__value").alias("value")]
    if first:
        shown.append(pl.col(FIRST).alias("first_row"))
    examples = flagged.head(MAX_EXAMPLES).select(shown).to_dicts()
    collector.add(kind, field, message=message, count=flagged.height, examples=examples)
    return flagged.select(pl.col(ROW), pl.lit(f"{field}: {kind}").alias(PROBLEM))


def check_keys(
    scan: pl.LazyFrame,
    *,
    schema: TableSchema,
    collector: ErrorCollector,
    mode: LoadMode = LoadMode.REPLACE,
    stored: StoredValues | None = None,
    foreign: ForeignValues | None = None,
) -> pl.DataFrame:
    """Check keys over the whole file; report to ``collector``; the rows found invalid
    (``__row``, ``__problem`` — a row may appear more than once)."""
    dtypes = dict(scan.collect_schema())
    valid = scan.filter(pl.col(VALID))
    found: list[pl.DataFrame] = []
    with_stored = stored is not None and mode is not LoadMode.REPLACE
    for key in _keys(schema):
        cols = key.columns
        base = valid.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in cols)).select(
            ROW, *cols
        )
        repeated = pl.col(cols[0]) if len(cols) == 1 else pl.struct(cols)
        dups = (
            base.filter(repeated.is_duplicated())
            .with_columns(pl.col(ROW).min().over(cols).alias(FIRST))
            .filter(pl.col(ROW) != pl.col(FIRST))
            .select(ROW, FIRST, _text(cols).alias("__value"))
            .collect()
        )
        what = "the primary key" if key.type == "primary-key" else "values"
        found.append(
            _report(
                collector,
                dups,
                kind=key.type,
                field=key.label,
                message=(
                    f"{what} ({key.label}) must be unique; this row repeats the one in "
                    "first_row — remove or correct one of them"
                ),
                first=True,
            )
        )
        if not with_stored or stored is None:
            continue
        if mode is LoadMode.APPEND:
            existing = _conform(stored(cols), {c: dtypes[c] for c in cols})
            clash = base.join(existing, on=cols, how="semi", nulls_equal=False)
            message = (
                f"({key.label}) is already stored; an append adds new rows only — load with "
                "mode upsert to update stored rows, or replace to start over"
            )
        elif key.type == "primary-key" or not schema.primary_key:
            continue
        else:  # upsert: a unique key stored on a row with another primary key
            pk = physical_columns(schema, schema.primary_key)
            wanted = list(dict.fromkeys([*cols, *pk]))
            existing = _conform(stored(wanted), {c: dtypes[c] for c in wanted})
            renamed = existing.rename({c: f"__s_{c}" for c in pk if c not in cols})
            ours = valid.select(ROW, *dict.fromkeys([*cols, *pk]))
            joined = ours.join(renamed, on=cols, how="inner")
            differs = pl.any_horizontal(
                pl.col(c).ne_missing(pl.col(f"__s_{c}")) for c in pk if c not in cols
            )
            clash = joined.filter(differs).select(ROW, *cols)
            message = (
                f"({key.label}) is already stored on a row with another primary key; "
                "values must be unique"
            )
        rows = clash.select(ROW, _text(cols).alias("__value")).collect()
        found.append(_report(collector, rows, kind=key.type, field=key.label, message=message))
    for foreign_key in schema.foreign_keys:
        found.append(
            _check_foreign(
                valid,
                foreign_key,
                schema=schema,
                collector=collector,
                dtypes=dtypes,
                stored=stored if with_stored else None,
                foreign=foreign,
            )
        )
    if not found:
        return pl.DataFrame(schema={ROW: pl.Int64, PROBLEM: pl.String})
    return pl.concat(found)


def _check_foreign(
    valid: pl.LazyFrame,
    foreign_key: ForeignKey,
    *,
    schema: TableSchema,
    collector: ErrorCollector,
    dtypes: dict[str, pl.DataType],
    stored: StoredValues | None,
    foreign: ForeignValues | None,
) -> pl.DataFrame:
    cols = physical_columns(schema, foreign_key.fields)
    like = {c: dtypes[c] for c in cols}
    label = ", ".join(foreign_key.fields)
    target = ", ".join(foreign_key.reference_fields)
    base = valid.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in cols)).select(ROW, *cols)
    if foreign_key.resource == "":
        ref_cols = physical_columns(schema, foreign_key.reference_fields)
        rename = dict(zip(ref_cols, cols, strict=True))
        parts = [valid.select(pl.col(r).alias(c) for r, c in rename.items())]
        if stored is not None:
            parts.append(_conform(stored(ref_cols).rename(rename), like))
        referenced: pl.LazyFrame | None = pl.concat(parts, how="vertical_relaxed")
        where = f"field(s) {target} of this dataset"
    else:
        values = foreign(foreign_key) if foreign is not None else None
        referenced = _conform(values, like) if values is not None else None
        where = f"field(s) {target} of dataset {foreign_key.resource!r}"
    if referenced is None:
        orphans = base
    else:
        orphans = base.join(referenced.unique(), on=cols, how="anti", nulls_equal=False)
    rows = orphans.select(ROW, _text(cols).alias("__value")).collect()
    return _report(
        collector,
        rows,
        kind="foreign-key",
        field=label,
        message=(
            f"({label}) must be a value of the {where}; it refers to nothing — "
            "correct the value or load the referenced rows first"
        ),
    )
