"""Bulk writes into a dataset version's table (SQLite executemany, PostgreSQL COPY)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import polars as pl
import pytest
from sqlalchemy import Table, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityos.datahub import physical, storage
from cityos.datahub.models import LoadMode
from cityos.datahub.tableschema import TableSchema, from_resolved
from cityos.datahub.validate import physical_dtypes

SCHEMA = from_resolved(
    {
        "fields": [
            {"name": "id", "type": "integer"},
            {"name": "label", "type": "string"},
            {"name": "amount", "type": "number"},
            {"name": "ok", "type": "boolean"},
            {"name": "day", "type": "date"},
            {"name": "at", "type": "datetime"},
            {"name": "year", "type": "year"},
            {"name": "where", "type": "geopoint"},
            {"name": "meta", "type": "object"},
        ],
        "primaryKey": ["id"],
    }
)
TRICKY = [
    "'); DROP TABLE datahub_datasets; --",
    "",
    'quote " and, comma',
    "line\nbreak",
    "\\N",
    "\\.",
    "统一社会信用代码",
    "tab\there",
]


def frame_of(rows: list[dict[str, object]], schema: TableSchema = SCHEMA) -> pl.DataFrame:
    dtypes = physical_dtypes(schema)
    return pl.DataFrame(rows, schema=dtypes)


def make_table(db: Session, schema: TableSchema = SCHEMA, version: int = 1) -> Table:
    table = physical.table_for(schema, dataset_id=999, version=version)
    storage.create_table(db.connection(), table)
    return table


def rows_of(db: Session, table: Table) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.execute(select(table).order_by(table.c["_row"])).all()]


def row(i: int, **values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "f0": i,
        "f1": f"label {i}",
        "f2": i / 2,
        "f3": i % 2 == 0,
        "f4": date(2024, 1, 1 + i % 28),
        "f5": datetime(2024, 1, 1, 8, i % 60, 30, 250_000, tzinfo=UTC),
        "f6": 2000 + i,
        "f7_lon": 114.0 + i / 1000,
        "f7_lat": 22.5,
        "f8": '{"a": 1}',
    }
    base.update(values)
    return base


def test_rows_of_every_type_come_back_as_written(db: Session) -> None:
    table = make_table(db)
    frames = [
        frame_of([row(i, f1=text) for i, text in enumerate(TRICKY)]),
        frame_of(
            [
                row(
                    100,
                    f1=None,
                    f2=None,
                    f3=None,
                    f4=None,
                    f5=None,
                    f6=None,
                    f7_lon=None,
                    f7_lat=None,
                    f8=None,
                )
            ]
        ),
    ]
    written = storage.insert_frames(db.connection(), table, frames)

    assert written == len(TRICKY) + 1
    stored = rows_of(db, table)
    assert [r[2] for r in stored] == [*TRICKY, None]  # "" stays "", None stays NULL
    first = stored[0]
    assert first[0] == 1  # _row given by the database
    assert first[1] == 0
    assert first[3:7] == (0.0, True, date(2024, 1, 1), first[6])
    at = first[6]
    assert isinstance(at, datetime)
    assert at.replace(tzinfo=at.tzinfo or UTC) == datetime(2024, 1, 1, 8, 0, 30, 250_000, UTC)
    assert first[7:] == (2000, 114.0, 22.5, '{"a": 1}')
    assert stored[-1][3:] == (None,) * 8
    assert [r[0] for r in stored] == list(range(1, len(TRICKY) + 2))
    # the SQL-looking cell was stored as text, and the table it names is still there
    assert inspect(db.connection()).has_table("datahub_datasets")


def test_special_numbers_are_stored(db: Session) -> None:
    table = make_table(db)
    values = [1e300, -0.0, 0.1, float("inf"), float("-inf"), float("nan")]
    frame = frame_of([row(i, f2=v) for i, v in enumerate(values)])
    storage.insert_frames(db.connection(), table, [frame])
    stored = [r[3] for r in rows_of(db, table)]
    assert stored[:5] == values[:5]
    assert stored[5] is None or math.isnan(stored[5])  # SQLite has no NaN: it stores NULL


def test_upsert_updates_rows_with_the_same_key_and_keeps_their_place(db: Session) -> None:
    table = make_table(db)
    storage.insert_frames(db.connection(), table, [frame_of([row(1), row(2)])])

    written = storage.upsert_frames(
        db.connection(),
        table,
        SCHEMA,
        [frame_of([row(2, f1="changed"), row(3)]), frame_of([row(1, f1="again")])],
    )

    assert written == 3
    stored = {r[1]: (r[0], r[2]) for r in rows_of(db, table)}
    assert {key: text for key, (_, text) in stored.items()} == {
        1: "again",
        2: "changed",
        3: "label 3",
    }
    # updated rows keep their _row; new ones come after (PostgreSQL may skip numbers)
    assert (stored[1][0], stored[2][0]) == (1, 2)
    assert stored[3][0] > 2
    assert storage.count_rows(db.connection(), table) == 3


def test_upsert_needs_a_primary_key(db: Session) -> None:
    schema = from_resolved({"fields": [{"name": "a", "type": "string"}]})
    table = make_table(db, schema)
    with pytest.raises(ValueError, match="primary key"):
        storage.upsert_frames(db.connection(), table, schema, [pl.DataFrame({"f0": ["x"]})])


def test_delete_all_and_count(db: Session) -> None:
    table = make_table(db)
    storage.insert_frames(db.connection(), table, [frame_of([row(i) for i in range(5)])])
    assert storage.count_rows(db.connection(), table) == 5
    assert storage.delete_all(db.connection(), table) == 5
    assert storage.count_rows(db.connection(), table) == 0


def test_value_counts_count_the_stored_values_of_each_column(db: Session) -> None:
    table = make_table(db)
    storage.insert_frames(
        db.connection(),
        table,
        [frame_of([row(1), row(2, f1=None, f2=None), row(3, f2=None, f7_lon=None, f7_lat=None)])],
    )
    assert storage.value_counts(db.connection(), table, ["f0", "f1", "f2", "f7_lon"]) == [
        3,
        2,
        1,
        2,
    ]
    assert storage.value_counts(db.connection(), table, []) == []


def test_distinct_values_are_typed_like_the_validated_columns(db: Session) -> None:
    table = make_table(db)
    frame = frame_of([row(1), row(2), row(29), row(3, f4=None)])
    storage.insert_frames(db.connection(), table, [frame])

    days = storage.distinct_values(db.connection(), table, ["f4"])
    assert sorted(days["f4"].to_list()) == [date(2024, 1, 2), date(2024, 1, 3)]
    pairs = storage.distinct_values(db.connection(), table, ["f0", "f5"])
    assert pairs.schema["f5"] == pl.Datetime("us", "UTC")
    assert sorted(pairs.rows())[0] == (1, datetime(2024, 1, 1, 8, 1, 30, 250_000, UTC))


def test_writes_belong_to_the_callers_transaction(db: Session) -> None:
    table = make_table(db)
    db.commit()
    storage.insert_frames(db.connection(), table, [frame_of([row(1), row(2)])])
    assert storage.count_rows(db.connection(), table) == 2
    db.rollback()
    assert storage.count_rows(db.connection(), table) == 0


def test_create_and_drop_table_are_idempotent(db: Session) -> None:
    table = make_table(db)
    storage.create_table(db.connection(), table)
    assert inspect(db.connection()).has_table(table.name)
    storage.drop_table(db.connection(), table)
    storage.drop_table(db.connection(), table)
    assert not inspect(db.connection()).has_table(table.name)


def indexes(db: Session, table: Table) -> set[tuple[tuple[str, ...], bool]]:
    found = inspect(db.connection()).get_indexes(table.name)
    return {(tuple(str(c) for c in i["column_names"]), bool(i["unique"])) for i in found}


DECLARED = {(("f0",), True), (("f7_lon", "f7_lat"), False)}


def test_a_table_created_and_rolled_back_is_gone(db: Session) -> None:
    table = physical.table_for(SCHEMA, dataset_id=999, version=1)
    db.commit()  # nothing open: the CREATE TABLE must open the transaction itself
    assert storage.create_table(db.connection(), table) is True
    assert storage.create_table(db.connection(), table) is False
    db.rollback()
    assert not inspect(db.connection()).has_table(table.name)


def test_a_load_into_a_new_table_builds_the_indexes_after_the_rows(db: Session) -> None:
    table = physical.table_for(SCHEMA, dataset_id=999, version=1)
    frames = [frame_of([row(1), row(2)]), frame_of([row(3)])]

    written = storage.store(db.connection(), table, SCHEMA, frames, mode=LoadMode.APPEND)

    assert written == 3
    assert [r[1] for r in rows_of(db, table)] == [1, 2, 3]
    assert indexes(db, table) == DECLARED
    db.commit()
    assert indexes(db, table) == DECLARED


def test_replace_empties_the_table_and_builds_its_indexes_again(db: Session) -> None:
    table = make_table(db)
    storage.insert_frames(db.connection(), table, [frame_of([row(1), row(2)])])
    db.commit()

    storage.store(
        db.connection(), table, SCHEMA, [frame_of([row(2), row(5)])], mode=LoadMode.REPLACE
    )

    assert [r[1] for r in rows_of(db, table)] == [2, 5]
    assert indexes(db, table) == DECLARED


@pytest.mark.parametrize("mode", [LoadMode.APPEND, LoadMode.UPSERT])
def test_append_and_upsert_into_a_table_with_rows_keep_its_indexes(
    db: Session, mode: LoadMode
) -> None:
    table = make_table(db)
    storage.insert_frames(db.connection(), table, [frame_of([row(1)])])

    storage.store(db.connection(), table, SCHEMA, [frame_of([row(2)])], mode=mode)
    if mode is LoadMode.UPSERT:
        storage.store(db.connection(), table, SCHEMA, [frame_of([row(2, f1="new")])], mode=mode)

    assert [r[1:3] for r in rows_of(db, table)] == [
        (1, "label 1"),
        (2, "new" if mode is LoadMode.UPSERT else "label 2"),
    ]
    assert indexes(db, table) == DECLARED


def test_upsert_into_an_empty_table_inserts(db: Session) -> None:
    table = make_table(db)
    storage.store(
        db.connection(), table, SCHEMA, [frame_of([row(1), row(2)])], mode=LoadMode.UPSERT
    )
    assert [r[1] for r in rows_of(db, table)] == [1, 2]
    assert indexes(db, table) == DECLARED


def test_repeated_keys_that_reach_an_empty_table_fail_on_its_unique_index(db: Session) -> None:
    stays = make_table(db)
    storage.insert_frames(db.connection(), stays, [frame_of([row(1)])])
    db.commit()
    fresh = physical.table_for(SCHEMA, dataset_id=998, version=1)
    frames = [frame_of([row(1), row(2), row(1)])]

    with pytest.raises(IntegrityError):
        storage.store(db.connection(), fresh, SCHEMA, frames, mode=LoadMode.APPEND)
    db.rollback()
    assert not inspect(db.connection()).has_table(fresh.name)

    with pytest.raises(IntegrityError):
        storage.store(db.connection(), stays, SCHEMA, frames, mode=LoadMode.REPLACE)
    db.rollback()
    assert [r[1] for r in rows_of(db, stays)] == [1]
    assert indexes(db, stays) == DECLARED
