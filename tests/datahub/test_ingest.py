"""Loading files into datasets: all or nothing, quarantine, modes, keys, and the Load record."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Table, func, inspect, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.datahub import ingest, keys, storage
from cityos.datahub.ingest import LoadOptions
from cityos.datahub.models import Dataset, Load, LoadMode, LoadStatus, OnError, QuarantinedRow
from cityos.errors import Conflict, InvalidInput
from tests.datahub.conftest import TEST_ACTOR, MakeDataset
from tests.datahub.ingest_support import (
    HEADER,
    STATIONS,
    csv_file,
    errors_of,
    good_lines,
    load,
    schema_of,
    stored,
    table_of,
)


@pytest.fixture
def stations(make_dataset: MakeDataset) -> Dataset:
    return make_dataset(name="stations", descriptor=STATIONS)


def test_a_clean_file_is_stored_whole_and_recorded(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    seen: list[int] = []
    path = csv_file(tmp_path, good_lines(range(1, 8)))
    done = ingest.load_file(
        db,
        dataset=stations,
        schema=schema_of(db, stations),
        version=1,
        path=path,
        filename="stations.csv",
        options=LoadOptions(batch_size=3),
        actor=TEST_ACTOR,
        area_codes=frozenset(),
        progress=seen.append,
    )

    assert done.status == LoadStatus.COMMITTED.value
    assert (done.rows_read, done.rows_loaded, done.rows_rejected) == (7, 7, 0)
    assert done.report["summary"] == "7 rows read, all valid."
    assert (done.format, done.encoding, done.filename) == ("csv", "utf-8", "stations.csv")
    assert done.finished_at is not None
    assert seen == [3, 6, 7]
    assert stored(db, stations) == list(range(1, 8))
    assert stations.row_count == 7
    assert stations.data_updated_at is not None
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "datahub.load")).one()
    assert entry.entity_id == "stations"
    assert "committed" in entry.summary


def test_type_mismatches_reject_the_load_and_store_nothing(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    lines = [*good_lines(range(1, 4)), "4,Harbour,lots,2024-05-01,", "5,Hill,3,01/05/2024,"]
    done = load(db, stations, csv_file(tmp_path, lines))

    assert done.status == LoadStatus.REJECTED.value
    assert (done.rows_read, done.rows_loaded, done.rows_rejected) == (5, 0, 2)
    errors = errors_of(done)
    assert errors[("type-error", "pm25")]["examples"] == [{"row": 5, "value": "lots"}]
    assert errors[("type-error", "measured")]["examples"] == [{"row": 6, "value": "01/05/2024"}]
    assert "YYYY-MM-DD" in errors[("type-error", "measured")]["message"]
    assert stored(db, stations) == []
    assert stations.row_count == 0
    assert db.scalar(select(func.count()).select_from(Load)) == 1


def test_primary_key_duplicates_in_the_file_are_reported_with_both_rows(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    lines = [*good_lines([1, 2, 3]), "2,Again,1,2024-05-01,"]
    done = load(db, stations, csv_file(tmp_path, lines))

    assert done.status == LoadStatus.REJECTED.value
    error = errors_of(done)[("primary-key", "id")]
    assert error["examples"] == [{"row": 5, "value": "2", "first_row": 3}]
    assert "unique" in error["message"]
    assert stored(db, stations) == []


def test_append_refuses_keys_already_stored_and_upsert_updates_them(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    assert load(db, stations, csv_file(tmp_path, good_lines([1, 2]), "a.csv")).status == "committed"
    again = csv_file(tmp_path, good_lines([2, 3], name="New"), "b.csv")

    done = load(db, stations, again)
    assert done.status == LoadStatus.REJECTED.value
    error = errors_of(done)[("primary-key", "id")]
    assert error["examples"] == [{"row": 2, "value": "2"}]
    assert "upsert" in error["message"]
    assert stored(db, stations) == [1, 2]

    done = load(db, stations, again, mode=LoadMode.UPSERT)
    assert done.status == LoadStatus.COMMITTED.value
    assert stored(db, stations, "f1") == ["Station 1", "New 2", "New 3"]
    assert stations.row_count == 3


def test_append_adds_and_replace_starts_over(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    load(db, stations, csv_file(tmp_path, good_lines([1, 2]), "a.csv"))
    load(db, stations, csv_file(tmp_path, good_lines([3]), "b.csv"))
    assert stored(db, stations) == [1, 2, 3]

    done = load(
        db, stations, csv_file(tmp_path, good_lines([2, 9]), "c.csv"), mode=LoadMode.REPLACE
    )
    assert done.status == LoadStatus.COMMITTED.value
    assert stored(db, stations) == [2, 9]
    assert stations.row_count == 2


def test_upsert_needs_a_primary_key(db: Session, make_dataset: MakeDataset, tmp_path: Path) -> None:
    notes = make_dataset(name="notes", descriptor={"fields": [{"name": "text", "type": "string"}]})
    with pytest.raises(InvalidInput, match="primary key"):
        load(db, notes, csv_file(tmp_path, ["text", "hello"]), mode=LoadMode.UPSERT)
    assert db.scalar(select(func.count()).select_from(Load)) == 0


def test_a_foreign_key_to_nothing_in_the_same_dataset_is_an_error(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    lines = [*good_lines([1]), "2,Child,1,2024-05-01,1", "3,Orphan,1,2024-05-01,42"]
    done = load(db, stations, csv_file(tmp_path, lines))

    assert done.status == LoadStatus.REJECTED.value
    error = errors_of(done)[("foreign-key", "parent")]
    assert error["examples"] == [{"row": 4, "value": "42"}]

    # a parent stored by an earlier load counts
    load(db, stations, csv_file(tmp_path, good_lines([42]), "parent.csv"))
    assert load(db, stations, csv_file(tmp_path, lines, "again.csv")).status == "committed"


def test_a_foreign_key_to_another_dataset_must_find_its_rows(
    db: Session, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    make_dataset(
        name="districts",
        descriptor={"fields": [{"name": "code", "type": "string"}], "primaryKey": ["code"]},
        rows=[{"code": "D1"}, {"code": "D2"}],
    )
    sites = make_dataset(
        name="sites",
        descriptor={
            "fields": [{"name": "site", "type": "string"}, {"name": "district", "type": "string"}],
            "foreignKeys": [
                {"fields": ["district"], "reference": {"resource": "districts", "fields": ["code"]}}
            ],
        },
    )
    lines = ["site,district", "a,D1", "b,D3", "c,", "d,D2"]
    done = load(db, sites, csv_file(tmp_path, lines))

    assert done.status == LoadStatus.REJECTED.value
    error = errors_of(done)[("foreign-key", "district")]
    assert error["examples"] == [{"row": 3, "value": "D3"}]
    assert "'districts'" in error["message"]


def test_quarantine_stores_the_valid_rows_and_keeps_the_others(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    lines = [
        *good_lines([1, 2]),
        "3,,5,2024-05-01,",  # name required
        "4,Bad,-1,2024-05-01,",  # pm25 minimum
        "2,Dup,1,2024-05-01,",  # primary key repeats row 3
        "5,Ragged,1,2024-05-01,,extra",
        "6,Fine,1,2024-05-01,1",
    ]
    done = load(db, stations, csv_file(tmp_path, lines), on_error=OnError.QUARANTINE)

    assert done.status == LoadStatus.PARTIAL.value
    assert (done.rows_read, done.rows_loaded, done.rows_rejected) == (7, 3, 4)
    assert stored(db, stations) == [1, 2, 6]
    assert stations.row_count == 3
    kept = db.scalars(
        select(QuarantinedRow)
        .where(QuarantinedRow.load_id == done.id)
        .order_by(QuarantinedRow.row_number)
    ).all()
    assert [(q.row_number, q.problems) for q in kept] == [
        (4, ["name: required"]),
        (5, ["pm25: minimum"]),
        (6, ["id: primary-key"]),
        (7, [kept[3].problems[0]]),
    ]
    assert kept[0].data == {
        "id": "3",
        "name": "",
        "pm25": "5",
        "measured": "2024-05-01",
        "parent": "",
    }
    assert kept[2].data["name"] == "Dup"
    assert "extra-cell" in {e["type"] for e in done.report["errors"]}


def test_a_quarantine_of_repeated_keys_raises_no_polars_deprecation_warning(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    lines = [*good_lines([1, 2]), "2,Dup,1,2024-05-01,", "3,Bad,-1,2024-05-01,"]
    # polars warns from Rust: ``-W error`` prints the warning without failing, so record it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = load(db, stations, csv_file(tmp_path, lines), on_error=OnError.QUARANTINE)
    assert done.status == LoadStatus.PARTIAL.value
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []


def test_header_errors_reject_even_a_quarantine_load(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    lines = ["id,pm25,colour", "1,2,red"]
    done = load(db, stations, csv_file(tmp_path, lines), on_error=OnError.QUARANTINE)

    assert done.status == LoadStatus.REJECTED.value
    errors = errors_of(done)
    assert ("missing-column", "name") in errors
    assert ("extra-column", "colour") in errors
    assert stored(db, stations) == []


def test_columns_in_another_order_and_optional_columns_left_out_load(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    lines = ["name,id,pm25", "North,1,3.5", "South,2,"]
    done = load(db, stations, csv_file(tmp_path, lines))

    assert done.status == LoadStatus.COMMITTED.value, done.report
    assert stored(db, stations, "f1") == ["North", "South"]
    assert any("measured" in warning for warning in done.report["warnings"])


def test_sql_looking_cells_are_stored_verbatim(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    evil = ["'); DROP TABLE datahub_datasets; --", "1 OR 1=1", '" ; DELETE FROM x; --']
    lines = [",".join(HEADER)] + [
        f'{i},"{text.replace(chr(34), chr(34) * 2)}",1,2024-05-01,' for i, text in enumerate(evil)
    ]
    done = load(db, stations, csv_file(tmp_path, lines))

    assert done.status == LoadStatus.COMMITTED.value, done.report
    assert stored(db, stations, "f1") == evil
    assert inspect(db.connection()).has_table("datahub_datasets")


def test_a_failure_while_storing_leaves_nothing_written(
    db: Session, stations: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(db, stations, csv_file(tmp_path, good_lines([1]), "first.csv"))
    db.commit()
    real = storage.insert_frames

    def failing(connection: Any, table: Table, frames: Iterable[pl.DataFrame]) -> int:
        def first_then_fail() -> Iterable[pl.DataFrame]:
            iterator = iter(frames)
            yield next(iterator)
            raise RuntimeError("disk full")

        return real(connection, table, first_then_fail())

    monkeypatch.setattr(storage, "insert_frames", failing)
    path = csv_file(tmp_path, good_lines(range(2, 12)), "second.csv")
    with pytest.raises(RuntimeError, match="disk full"):
        load(db, stations, path, batch_size=4)
    db.rollback()

    assert stored(db, stations) == [1]
    assert db.scalar(select(func.count()).select_from(Load)) == 1
    db.refresh(stations)
    assert stations.row_count == 1


def test_a_failed_first_load_leaves_no_new_table_behind(
    db: Session, stations: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.drop_table(db.connection(), table_of(db, stations))  # (setting a schema makes it)
    db.commit()

    def failing(connection: Any, table: Table, frames: Iterable[pl.DataFrame]) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(storage, "insert_frames", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        load(db, stations, csv_file(tmp_path, good_lines([1, 2])))
    db.rollback()

    assert not inspect(db.connection()).has_table(table_of(db, stations).name)


def declared_indexes(db: Session, dataset: Dataset) -> set[tuple[tuple[str, ...], bool]]:
    return {
        (tuple(c.name for c in i.columns), bool(i.unique)) for i in table_of(db, dataset).indexes
    }


def stored_indexes(db: Session, dataset: Dataset) -> set[tuple[tuple[str, ...], bool]]:
    found = inspect(db.connection()).get_indexes(table_of(db, dataset).name)
    return {(tuple(str(c) for c in i["column_names"]), bool(i["unique"])) for i in found}


def test_every_index_is_there_after_a_first_load_a_replace_and_an_append(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    assert declared_indexes(db, stations) == {(("f0",), True), (("f4",), False)}
    for name, ids, mode in (
        ("first.csv", [1, 2], LoadMode.APPEND),
        ("again.csv", [3, 4], LoadMode.REPLACE),
        ("more.csv", [5], LoadMode.APPEND),
    ):
        done = load(db, stations, csv_file(tmp_path, good_lines(ids), name), mode=mode)
        assert done.status == LoadStatus.COMMITTED.value
        db.commit()
        assert stored_indexes(db, stations) == declared_indexes(db, stations)
    assert stored(db, stations) == [3, 4, 5]


def test_repeated_keys_missed_by_the_checks_still_store_nothing(
    db: Session, stations: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(db, stations, csv_file(tmp_path, good_lines([1]), "first.csv"))
    db.commit()
    # pretend the whole-file checks found nothing: the unique index built after the rows
    # of a replace is the last line of defence
    monkeypatch.setattr(
        keys, "check_keys", lambda scan, **_: pl.DataFrame(schema={"__row": pl.Int64})
    )
    path = csv_file(tmp_path, good_lines([7, 8, 7]), "again.csv")
    with pytest.raises(Conflict, match="nothing was stored"):
        load(db, stations, path, mode=LoadMode.REPLACE)
    db.rollback()

    assert stored(db, stations) == [1]
    assert stored_indexes(db, stations) == declared_indexes(db, stations)


def test_a_database_refusal_while_storing_is_a_conflict(
    db: Session, stations: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(db, stations, csv_file(tmp_path, good_lines([1]), "first.csv"))
    # pretend the stored keys are unknown, so the duplicate reaches the unique index
    monkeypatch.setattr(ingest, "_stored_values", lambda connection, table: None)
    with pytest.raises(Conflict, match="nothing was stored"):
        load(db, stations, csv_file(tmp_path, good_lines([1]), "second.csv"))
    db.rollback()


def test_validate_file_reports_without_storing_or_recording(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    load(db, stations, csv_file(tmp_path, good_lines([1]), "first.csv"))
    lines = [*good_lines([1, 2]), "3,Bad,x,2024-05-01,"]
    report = ingest.validate_file(
        db,
        dataset=stations,
        schema=schema_of(db, stations),
        version=1,
        path=csv_file(tmp_path, lines),
        filename="check.csv",
        options=LoadOptions(mode=LoadMode.APPEND),
    )

    assert not report.ok
    assert {(g.type, g.field) for g in report.errors} == {
        ("primary-key", "id"),
        ("type-error", "pm25"),
    }
    assert (report.rows, report.valid_rows, report.invalid_rows) == (3, 1, 2)
    assert stored(db, stations) == [1]
    assert db.scalar(select(func.count()).select_from(Load)) == 1


def test_the_recorded_file_name_has_no_directories(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, good_lines([1]))
    done = ingest.load_file(
        db,
        dataset=stations,
        schema=schema_of(db, stations),
        version=1,
        path=path,
        filename="../../etc/stations.csv",
        options=LoadOptions(),
        actor=TEST_ACTOR,
        area_codes=frozenset(),
    )
    assert done.filename == "stations.csv"


def test_a_quarantine_load_without_one_valid_row_is_rejected_and_keeps_the_stored_rows(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    load(db, stations, csv_file(tmp_path, good_lines([1, 2]), "first.csv"))
    lines = [",".join(HEADER), "3,,1,2024-05-01,", "4,Bad,x,2024-05-01,"]
    done = load(
        db,
        stations,
        csv_file(tmp_path, lines),
        mode=LoadMode.REPLACE,
        on_error=OnError.QUARANTINE,
    )
    assert done.status == LoadStatus.REJECTED.value
    assert stored(db, stations) == [1, 2]
    assert db.scalar(select(func.count()).select_from(QuarantinedRow)) == 0


def test_quarantine_keeps_a_bounded_number_of_rows_and_says_so(
    db: Session, stations: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "MAX_QUARANTINE", 2)
    lines = [*good_lines([1]), *(f"{i},Bad,-{i},2024-05-01," for i in range(2, 7))]
    done = load(db, stations, csv_file(tmp_path, lines), on_error=OnError.QUARANTINE)

    assert done.status == LoadStatus.PARTIAL.value
    assert done.rows_rejected == 5
    assert db.scalar(select(func.count()).select_from(QuarantinedRow)) == 2
    assert "5 rows are invalid; the first 2 are kept in quarantine." in done.report["warnings"]


# --- completeness ------------------------------------------------------------------------------


def test_a_stored_load_reports_the_completeness_of_each_field(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    lines = [",".join(HEADER), "1,A,1,2024-05-01,", "2,B,,2024-05-01,", "3,C,,,1", "4,D,2,,"]
    done = load(db, stations, csv_file(tmp_path, lines), batch_size=3)

    assert done.report["completeness"] == {
        "id": 100.0,
        "name": 100.0,
        "pm25": 50.0,
        "measured": 50.0,
        "parent": 25.0,
    }


def test_completeness_after_an_append_describes_the_whole_stored_table(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    load(db, stations, csv_file(tmp_path, good_lines([1, 2, 3]), "first.csv"))
    lines = [",".join(HEADER), "4,D,,2024-05-01,1"]
    done = load(db, stations, csv_file(tmp_path, lines, "more.csv"))

    assert done.status == LoadStatus.COMMITTED.value
    completeness = done.report["completeness"]
    assert (completeness["pm25"], completeness["parent"]) == (75.0, 25.0)


def test_completeness_after_an_upsert_counts_the_rows_it_did_not_touch(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    load(db, stations, csv_file(tmp_path, good_lines([1, 2]), "first.csv"))
    lines = [",".join(HEADER), "2,B,,2024-05-01,"]
    partly = load(db, stations, csv_file(tmp_path, lines, "one.csv"), mode=LoadMode.UPSERT)
    assert partly.report["completeness"]["pm25"] == 50.0

    lines = [",".join(HEADER), "1,A,,2024-05-01,", "2,B,,2024-05-01,"]
    whole = load(db, stations, csv_file(tmp_path, lines, "all.csv"), mode=LoadMode.UPSERT)
    assert whole.report["completeness"]["pm25"] == 0.0


def test_a_partial_load_reports_the_completeness_of_the_rows_it_stored(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    lines = [",".join(HEADER), "1,A,1,2024-05-01,", "2,B,,2024-05-01,", "3,C,lots,,"]
    done = load(db, stations, csv_file(tmp_path, lines), on_error=OnError.QUARANTINE)

    assert done.status == LoadStatus.PARTIAL.value
    assert done.report["completeness"]["pm25"] == 50.0


def test_a_rejected_load_reports_no_completeness(
    db: Session, stations: Dataset, tmp_path: Path
) -> None:
    lines = [",".join(HEADER), "1,A,lots,2024-05-01,"]
    done = load(db, stations, csv_file(tmp_path, lines))

    assert done.status == LoadStatus.REJECTED.value
    assert "completeness" not in done.report
