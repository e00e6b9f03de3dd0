"""Reading a dataset's rows: the query API's parameters, pages of rows, and frames for exports.

``parse_row_query`` checks every name against the schema and parses every value to its
field's type; :func:`fetch_rows` answers one page with keyset paging (``cursor``);
:func:`iter_frames` streams the whole selection as polars frames for downloads.

Parameters (Datasette style): ``field=value`` and ``field__op=value`` (see
:mod:`cityos.datahub.filters`; repeated filters must all hold), ``q`` (text in any string
field the reader sees in full, case-insensitive), ``fields=a,b``, ``sort=-a,b`` (always
tie-broken by the load order; NULLs last ascending, first descending), ``limit``,
``cursor`` (from the previous page's ``next``), ``offset`` (not with ``cursor``),
``bbox=minlon,minlat,maxlon,maxlat`` (on the first geopoint field or ``bbox_field``) and
``total=true``. The bare names of these parameters are reserved: filter a field called
``limit`` with ``limit__eq=…``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Connection, Select, Table, func, select
from sqlalchemy.orm import Session

from cityos.datahub import cursor as keyset
from cityos.datahub import masking, physical
from cityos.datahub.access import ReadAccess, how_to_ask
from cityos.datahub.cursor import Cursor, SortKey
from cityos.datahub.filters import (
    JSON_TYPES,
    OPS,
    BBox,
    Filter,
    bbox_condition,
    condition,
    parse_bbox,
    parse_filter,
    parse_flag,
    text_search,
    unknown_field,
)
from cityos.datahub.models import Dataset
from cityos.datahub.tableschema import Field, FieldType, TableSchema
from cityos.errors import Forbidden, InvalidInput

RESERVED = ("q", "fields", "sort", "limit", "cursor", "offset", "bbox", "bbox_field", "total")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_SORT_KEYS = 8
MAX_Q = 500
BATCH_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class RowQuery:
    filters: tuple[Filter, ...] = ()
    q: str | None = None
    fields: tuple[str, ...] | None = None  # None: every field the reader may see
    sort: tuple[SortKey, ...] = ()
    limit: int | None = DEFAULT_LIMIT  # None: no limit (downloads)
    cursor: Cursor | None = None
    offset: int = 0
    bbox: BBox | None = None
    total: bool = False

    @property
    def referenced(self) -> list[str]:
        """Every field the query names (to check the reader may use them)."""
        names = list(self.fields or ())
        names += [item.field for item in self.filters]
        names += [key.field for key in self.sort]
        if self.bbox is not None:
            names.append(self.bbox.field)
        return list(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class RowPage:
    rows: list[dict[str, Any]]
    fields: list[str]
    next_cursor: str | None
    total: int | None


# --- parsing -------------------------------------------------------------------------------


def _whole(text: str, *, param: str, low: int, high: int | None) -> int:
    value = text.strip()
    limits = f"{low}..{high}" if high is not None else f"{low} or more"
    if not value.isdigit() or not low <= int(value) <= (high if high is not None else 2**62):
        raise InvalidInput(f"{param} must be a whole number {limits}, not {text!r}.")
    return int(value)


def _names(schema: TableSchema, text: str, *, param: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if not schema.has_field(name.removeprefix("-") if param == "sort" else name):
            raise unknown_field(schema, name.removeprefix("-"), where=param)
    return names


def _sort(schema: TableSchema, text: str) -> tuple[SortKey, ...]:
    keys: list[SortKey] = []
    for item in _names(schema, text, param="sort"):
        name = item.removeprefix("-")
        if schema.field(name).type is FieldType.GEOPOINT:
            raise InvalidInput(f"sort: {name!r} is a geopoint field and cannot be sorted by.")
        if any(key.field == name for key in keys):
            raise InvalidInput(f"sort: {name!r} is given twice.")
        keys.append(SortKey(name, descending=item.startswith("-")))
    if len(keys) > MAX_SORT_KEYS:
        raise InvalidInput(f"sort: at most {MAX_SORT_KEYS} fields.")
    return tuple(keys)


def _filter(schema: TableSchema, key: str, text: str) -> Filter:
    if schema.has_field(key):
        return parse_filter(schema.field(key), "eq", text)
    name, separator, op = key.rpartition("__")
    if separator and schema.has_field(name):
        if op not in OPS:
            raise InvalidInput(
                f"{key}: unknown operator {op!r}; use one of {', '.join(OPS)} (e.g. {name}__ge=…)."
            )
        return parse_filter(schema.field(name), op, text)
    unknown = name if separator and op in OPS else key
    raise unknown_field(schema, unknown, where="the filters")


def parse_row_query(
    schema: TableSchema,
    params: Sequence[tuple[str, str]],
    *,
    max_limit: int | None = MAX_LIMIT,
    default_limit: int | None = DEFAULT_LIMIT,
) -> RowQuery:
    """The query of ``params`` (query-string pairs), checked against ``schema``.

    ``max_limit=None`` and ``default_limit=None`` (downloads): no limit unless one is given.
    Raises InvalidInput naming what is wrong and what to give instead.
    """
    single: dict[str, str] = {}
    filters: list[Filter] = []
    for key, value in params:
        if key in RESERVED:
            if key in single:
                raise InvalidInput(f"{key} is given more than once; give it once.")
            single[key] = value
        else:
            filters.append(_filter(schema, key, value))
    limit = default_limit
    if "limit" in single:
        limit = _whole(single["limit"], param="limit", low=1, high=max_limit)
    offset = _whole(single["offset"], param="offset", low=0, high=None) if "offset" in single else 0
    fields = None
    if single.get("fields", "").strip():
        fields = tuple(dict.fromkeys(_names(schema, single["fields"], param="fields")))
    sort = _sort(schema, single.get("sort", ""))
    q = single.get("q", "").strip() or None
    if q is not None and len(q) > MAX_Q:
        raise InvalidInput(f"q is {len(q)} characters long; at most {MAX_Q}.")
    bbox = None
    if single.get("bbox", "").strip():
        bbox = parse_bbox(schema, single["bbox"].strip(), single.get("bbox_field") or None)
    elif single.get("bbox_field"):
        raise InvalidInput("bbox_field needs bbox=minlon,minlat,maxlon,maxlat too.")
    total = parse_flag(single["total"], param="total") if "total" in single else False
    found = None
    if single.get("cursor", "").strip():
        if "offset" in single:
            raise InvalidInput("Use either cursor or offset, not both.")
        found = keyset.decode(schema, sort, single["cursor"].strip())
    return RowQuery(
        filters=tuple(filters),
        q=q,
        fields=fields,
        sort=sort,
        limit=limit,
        cursor=found,
        offset=offset,
        bbox=bbox,
        total=total,
    )


# --- building the statement ----------------------------------------------------------------


def check_access(dataset: Dataset, query: RowQuery, access: ReadAccess) -> None:
    """Refuse fields the reader may not see, and filters or sorts on masked ones."""
    if not access.allowed:
        raise Forbidden(access.reason)
    asked = [name for name in query.fields or () if name in access.hidden]
    used = [item.field for item in query.filters] + [key.field for key in query.sort]
    if query.bbox is not None:
        used.append(query.bbox.field)
    refused = list(dict.fromkeys(asked + [n for n in used if n in access.hidden]))
    if refused:
        listed = ", ".join(repr(name) for name in refused)
        raise Forbidden(
            f"The field(s) {listed} are not shown to you (sensitive or not granted). "
            + how_to_ask(dataset, fields=refused),
            details=[{"field": name, "reason": "hidden"} for name in refused],
        )
    masked = list(dict.fromkeys(n for n in used if n in access.masked))
    if masked:
        listed = ", ".join(repr(name) for name in masked)
        raise Forbidden(
            f"You see {listed} masked, so you cannot filter or sort on it: that would reveal "
            "the hidden part. " + how_to_ask(dataset, fields=masked),
            details=[{"field": name, "reason": "masked"} for name in masked],
        )


def output_fields(schema: TableSchema, query: RowQuery, access: ReadAccess) -> list[Field]:
    names = query.fields if query.fields is not None else tuple(schema.names)
    return [schema.field(name) for name in names if name not in access.hidden]


def searchable(schema: TableSchema, access: ReadAccess) -> list[str]:
    """The columns ``q`` looks in: string fields the reader sees in full."""
    return [
        f.column
        for f in schema.fields
        if f.type is FieldType.STRING and f.name not in access.hidden | access.masked
    ]


def conditions(
    table: Table, schema: TableSchema, query: RowQuery, access: ReadAccess
) -> list[ColumnElement[bool]]:
    where = [condition(table, schema, item) for item in query.filters]
    if query.q is not None:
        where.append(text_search(table, searchable(schema, access), query.q))
    if query.bbox is not None:
        where.append(bbox_condition(table, schema, query.bbox))
    return where


def columns_for(out: list[Field], schema: TableSchema, sort: tuple[SortKey, ...]) -> list[str]:
    names = [physical.ROW]
    for data_field in out:
        names.extend(data_field.columns)
    names.extend(schema.field(key.field).column for key in sort)
    return list(dict.fromkeys(names))


def statement_for(
    table: Table,
    schema: TableSchema,
    query: RowQuery,
    access: ReadAccess,
    columns: list[str],
    *,
    limit: int | None,
) -> Select[Any]:
    """SELECT ``columns`` with the query's conditions, order, cursor, offset and limit."""
    statement = select(*(table.c[name] for name in columns)).where(
        *conditions(table, schema, query, access)
    )
    if query.cursor is not None:
        statement = statement.where(keyset.after(table, schema, query.sort, query.cursor))
    statement = statement.order_by(*keyset.order_by(table, schema, query.sort))
    if query.offset:
        statement = statement.offset(query.offset)
    if limit is not None:
        statement = statement.limit(limit)
    return statement


def table_of(dataset: Dataset, schema: TableSchema, version: int) -> Table:
    """The dataset version's table; the same object for the same schema, so SQLAlchemy's
    statement cache serves repeated questions."""
    try:
        return _cached_table(dataset.id, version, schema)
    except TypeError:  # a schema with unhashable parts (never from from_resolved)
        return physical.table_for(schema, dataset_id=dataset.id, version=version)


@functools.lru_cache(maxsize=256)
def _cached_table(dataset_id: int, version: int, schema: TableSchema) -> Table:
    return physical.table_for(schema, dataset_id=dataset_id, version=version)


# --- pages of rows -------------------------------------------------------------------------


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime) -> str:
    return utc(value).isoformat().replace("+00:00", "Z")


def json_value(data_field: Field, value: Any) -> Any:
    """A stored value as JSON would carry it (dates ISO, date-times UTC with Z)."""
    if value is None:
        return None
    kind = data_field.type
    if kind is FieldType.DATETIME:
        return iso(value)
    if kind is FieldType.DATE:
        return value.isoformat() if isinstance(value, date) else str(value)
    if kind in JSON_TYPES:
        try:
            return json.loads(value)
        except (TypeError, ValueError):
            return value
    if kind is FieldType.BOOLEAN:
        return bool(value)
    return value


def fetch_rows(
    db_session: Session,
    *,
    dataset: Dataset,
    schema: TableSchema,
    version: int,
    query: RowQuery,
    access: ReadAccess,
) -> RowPage:
    """One page of rows (keyset paging on the sort keys and ``_row``), masked for the reader."""
    check_access(dataset, query, access)
    table = table_of(dataset, schema, version)
    out = output_fields(schema, query, access)
    columns = columns_for(out, schema, query.sort)
    limit = query.limit
    statement = statement_for(
        table, schema, query, access, columns, limit=None if limit is None else limit + 1
    )
    found = db_session.execute(statement).all()
    position = {name: i for i, name in enumerate(columns)}
    page = found if limit is None else found[:limit]
    rows: list[dict[str, Any]] = []
    for row in page:
        record: dict[str, Any] = {}
        for data_field in out:
            if data_field.type is FieldType.GEOPOINT:
                lon, lat = (row[position[name]] for name in data_field.columns)
                value: Any = None if lon is None or lat is None else [lon, lat]
            else:
                value = json_value(data_field, row[position[data_field.column]])
            if data_field.name in access.masked:
                value = masking.mask_value(data_field, value)
            record[data_field.name] = value
        rows.append(record)
    next_cursor = None
    if limit is not None and len(found) > limit:
        last = page[-1]
        values = tuple(
            _cursor_value(last[position[schema.field(key.field).column]]) for key in query.sort
        )
        next_cursor = keyset.encode(query.sort, values, int(last[0]))
    total = None
    if query.total:
        total = count_rows(db_session, table=table, schema=schema, query=query, access=access)
    return RowPage(rows, [f.name for f in out], next_cursor, total)


def _cursor_value(value: Any) -> Any:
    return utc(value) if isinstance(value, datetime) else value


def count_rows(
    db: Session | Connection,
    *,
    table: Table,
    schema: TableSchema,
    query: RowQuery,
    access: ReadAccess,
) -> int:
    """How many rows match the filters (``q``, ``bbox``; not the cursor or the limit)."""
    statement = (
        select(func.count()).select_from(table).where(*conditions(table, schema, query, access))
    )
    return int(db.execute(statement).scalar_one())


# --- frames for downloads (cityos.datahub.frames) ------------------------------------------


def iter_frames(
    db: Session | Connection,
    *,
    dataset: Dataset,
    schema: TableSchema,
    version: int,
    query: RowQuery,
    access: ReadAccess,
    batch_size: int = BATCH_SIZE,
) -> Generator[pl.DataFrame, None, None]:
    """The selection as polars frames (see :func:`cityos.datahub.frames.iter_frames`)."""
    from cityos.datahub import frames

    return frames.iter_frames(
        db,
        dataset=dataset,
        schema=schema,
        version=version,
        query=query,
        access=access,
        batch_size=batch_size,
    )
