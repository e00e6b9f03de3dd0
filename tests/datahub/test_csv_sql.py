"""CSV written by PostgreSQL (the fast path) says what the polars path says, cell by cell.

On SQLite both downloads go through polars: the same comparison holds trivially."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.datahub import csv_sql, export
from cityos.datahub.access import ReadAccess
from cityos.datahub.frames import frames
from cityos.datahub.query import output_fields, parse_row_query
from cityos.datahub.tableschema import FieldType, from_resolved
from tests.datahub.query_support import OWNER, Loaded, load, loaded_table

EVERY_TYPE = from_resolved(
    {
        "fields": [
            {"name": "text", "type": "string"},
            {"name": "=sum", "type": "string"},
            {"name": "count", "type": "integer"},
            {"name": "score", "type": "number"},
            {"name": "open", "type": "boolean"},
            {"name": "opened", "type": "date"},
            {"name": "updated", "type": "datetime"},
            {"name": "at", "type": "time"},
            {"name": "year", "type": "year"},
            {"name": "month", "type": "yearmonth"},
            {"name": "took", "type": "duration"},
            {"name": "where", "type": "geopoint"},
            {"name": "shape", "type": "geojson"},
            {"name": "attrs", "type": "object"},
            {"name": "tags", "type": "array"},
            {"name": "codes", "type": "list"},
            {"name": "other", "type": "any"},
        ]
    }
)
FLOATS = {"score"}


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _row(**values: Any) -> dict[str, Any]:
    return {name: values.get(name) for name in EVERY_TYPE.names}


ROWS = [
    _row(text="plain", count=1, score=1.5, open=True, opened=date(2024, 1, 5),
         updated=_t("2024-01-05T08:00:00"), at="08:00:00", year=2024, month="2024-01",
         took="P1D", where=(116.4, 39.9), shape='{"type": "Point", "coordinates": [1, 2]}',
         attrs='{"a": 1}', tags='["a", "b"]', codes="a,b", other="-5"),
    _row(text="=1+2", score=9.0, open=False, updated=_t("2023-12-31T23:59:59.500000"),
         where=(117.0, 40.5), other="@x"),
    _row(text="+cmd", **{"=sum": "=SUM(A1:A2)"}, score=-2.0,
         updated=_t("2024-02-01T00:30:00.123456")),
    _row(text="-5", score=0.1 + 0.2, updated=_t("2024-03-03T12:00:00.000001")),
    _row(text="@home", score=1e20, count=-7, year=1999),
    _row(text="\tTab", score=-0.000123),
    _row(text="\rCR"),
    _row(text='say "hi", ok'),
    _row(text="line\nbreak"),
    _row(text="东城区", where=(-0.5, 1e-7)),
    _row(text=""),
    _row(),
]  # fmt: skip


@pytest.fixture
def every(db: Session) -> Iterator[Loaded]:
    yield from loaded_table(db, schema=EVERY_TYPE, rows=ROWS, dataset_id=9101, name="every")


def fast(made: Loaded, params: list[tuple[str, str]], **options: Any) -> bytes:
    query = parse_row_query(made.schema, params, max_limit=None, default_limit=None)
    chunks = export.stream(
        made.connect,
        dataset=made.dataset,
        schema=made.schema,
        version=made.version,
        query=query,
        access=OWNER,
        fmt="csv",
        **options,
    )
    return b"".join(chunks)


def through_polars(made: Loaded, params: list[tuple[str, str]], *, bom: bool = False) -> bytes:
    query = parse_row_query(made.schema, params, max_limit=None, default_limit=None)
    batches = frames(made.db, table=made.table, schema=made.schema, query=query, access=OWNER)
    return b"".join(export.csv_chunks(batches, bom=bom))


def parsed(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def same_cells(made: Loaded, ours: bytes, theirs: bytes, names: list[str]) -> None:
    mine, polars_rows = parsed(ours), parsed(theirs)
    assert mine[0] == polars_rows[0]
    assert len(mine) == len(polars_rows)
    types = {f.name: f.type for f in made.schema.fields}
    for got, want in zip(mine[1:], polars_rows[1:], strict=True):
        for name, a, b in zip(names, got, want, strict=True):
            if name in FLOATS and a and b:
                assert float(a) == float(b), name
            elif types[name] is FieldType.GEOPOINT and a and b:
                assert [float(x) for x in a.split(",")] == [float(x) for x in b.split(",")]
            else:
                assert a == b, (name, a, b)


def test_database_csv_has_the_cells_of_the_polars_csv(every: Loaded) -> None:
    ours = fast(every, [])
    dialect = every.db.connection().dialect.name
    out = output_fields(every.schema, parse_row_query(every.schema, []), OWNER)
    assert csv_sql.usable(out, OWNER, dialect) is (dialect == "postgresql")
    same_cells(every, ours, through_polars(every, []), EVERY_TYPE.names)
    rows = parsed(ours)
    assert rows[0][1] == "'=sum"
    texts = [row[0] for row in rows[1:]]
    assert texts[1:7] == ["'=1+2", "'+cmd", "'-5", "'@home", "'\tTab", "'\rCR"]
    assert texts[7:10] == ['say "hi", ok', "line\nbreak", "东城区"]
    assert rows[1][6] == "2024-01-05T08:00:00Z"
    assert [row[6] for row in rows[2:5]] == [
        "2023-12-31T23:59:59.500Z",
        "2024-02-01T00:30:00.123456Z",
        "2024-03-03T12:00:00.000001Z",
    ]
    assert rows[1][4:6] == ["true", "2024-01-05"]
    assert rows[2][4] == "false"
    assert rows[1][11] == "116.4,39.9"
    assert rows[1][16] == "'-5"
    assert float(rows[4][3]) == 0.1 + 0.2  # exact, not rounded to 15 digits
    assert rows[12] == [""] * len(EVERY_TYPE.names)  # every value missing: empty cells


def test_database_csv_filters_sorts_and_limits_like_the_polars_csv(every: Loaded) -> None:
    params = [("count__isnull", "true"), ("text__ne", "50% off"), ("sort", "-text")]
    params.append(("fields", "text,score,where"))
    ours = fast(every, params, bom=True)
    assert ours.startswith(b"\xef\xbb\xbftext,score,where\n")
    same_cells(every, ours, through_polars(every, params, bom=True), ["text", "score", "where"])
    limited = [*params, ("limit", "3")]
    assert len(parsed(fast(every, limited))) == 4


def test_database_csv_of_an_empty_selection_is_the_header(every: Loaded) -> None:
    params = [("text", "nobody"), ("fields", "text,count")]
    assert fast(every, params) == b"text,count\n" == through_polars(every, params)


def test_masked_fields_and_sqlite_keep_the_polars_csv() -> None:
    masked = ReadAccess(True, "open", False, frozenset({"text"}), frozenset({"text"}), frozenset())
    text = [EVERY_TYPE.field("text")]
    assert not csv_sql.usable(text, masked, "postgresql")
    assert not csv_sql.usable(text, OWNER, "sqlite")
    assert csv_sql.usable(text, OWNER, "postgresql")


def test_database_csv_streams_every_row_of_a_longer_table(db: Session) -> None:
    given = [_row(text=f"row {i}", count=i) for i in range(250)]
    made = load(db, schema=EVERY_TYPE, rows=given, dataset_id=9102, name="many")
    params = [("fields", "text,count")]
    ours = fast(made, params, batch_size=100)
    assert parsed(ours) == [["text", "count"], *([f"row {i}", str(i)] for i in range(250))]


def test_database_csv_stopped_mid_copy_leaves_the_connection_usable(db: Session) -> None:
    given = [_row(text=f"row {i} " + "x" * 120, count=i) for i in range(12_000)]
    made = load(db, schema=EVERY_TYPE, rows=given, dataset_id=9103, name="long")
    query = parse_row_query(
        made.schema, [("fields", "text,count")], max_limit=None, default_limit=None
    )
    chunks = export.stream(
        made.connect,
        dataset=made.dataset,
        schema=made.schema,
        version=made.version,
        query=query,
        access=OWNER,
        fmt="csv",
        batch_size=1000,  # the polars path (SQLite) in several chunks too
    )
    assert next(chunks).startswith(b"text,count\n")
    assert b"row " in next(chunks)  # PostgreSQL: inside the COPY
    chunks.close()  # the client went away
    assert db.execute(select(func.count()).select_from(made.table)).scalar_one() == 12_000
