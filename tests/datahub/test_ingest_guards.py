"""Loads refused before a row is checked: unreadable files (recorded all the same), foreign
keys into fields the department may no longer read; and files without a header row."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.auth.models import User
from cityos.datahub import ingest, service, sharing
from cityos.datahub.ingest import LoadOptions
from cityos.datahub.models import Dataset, Load, LoadStatus
from cityos.db import utcnow
from cityos.errors import CityOSError, Forbidden, InvalidInput, PayloadTooLarge
from tests.datahub.conftest import TEST_ACTOR, MakeDataset
from tests.datahub.ingest_support import STATIONS, csv_file, load, schema_of, stored
from tests.datahub.readers_support import zip_bomb

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
BIG_CELL = b"id,name\n1,a\n2," + b"x" * (2 << 20) + b"\n"

# file name, content (None: a zip bomb), load options, error, what the message says
UNREADABLE: list[tuple[str, bytes | None, dict[str, Any], type[CityOSError], str]] = [
    ("empty.csv", b"", {}, InvalidInput, "The file is empty"),
    ("photo.csv", PNG, {}, InvalidInput, "it looks like a PNG image"),
    ("twice.csv", b"id,name,name\n1,a,b\n", {}, InvalidInput, "Columns 2 and 3 are both called"),
    (
        "gbk.csv",
        "id,name\n1,中心医院\n".encode("gbk"),
        {"encoding": "utf-8"},
        InvalidInput,
        "try the encoding gb18030 (`encoding=gb18030` in the API or the upload form",
    ),
    ("quote.csv", b'id,name\n1,a\n3,"oops\n5,b\n', {}, InvalidInput, "Unbalanced quote"),
    ("big.csv", BIG_CELL, {}, PayloadTooLarge, "holds 2.0 MiB"),
    ("bomb.xlsx", None, {}, PayloadTooLarge, "looks like a zip bomb"),
]


@pytest.fixture
def stations(make_dataset: MakeDataset) -> Dataset:
    return make_dataset(name="stations", descriptor=STATIONS)


def _loads(engine: Engine, dataset: Dataset) -> list[Load]:
    """The dataset's loads as another connection sees them (what was committed)."""
    with Session(engine) as fresh:
        return list(
            fresh.scalars(select(Load).where(Load.dataset_id == dataset.id).order_by(Load.id))
        )


@pytest.mark.parametrize(
    ("filename", "content", "options", "error", "says"),
    [pytest.param(*case, id=case[0]) for case in UNREADABLE],
)
def test_an_unreadable_file_is_recorded_as_a_rejected_load_that_outlives_the_rollback(
    db: Session,
    engine: Engine,
    stations: Dataset,
    tmp_path: Path,
    filename: str,
    content: bytes | None,
    options: dict[str, Any],
    error: type[CityOSError],
    says: str,
) -> None:
    path = tmp_path / filename
    if content is None:
        zip_bomb(path, unpacked=8 << 20)
    else:
        path.write_bytes(content)
    with pytest.raises(error) as caught:
        load(db, stations, path, **options)
    assert says in caught.value.message
    db.rollback()  # what an API request does on an error

    [refused] = _loads(engine, stations)
    assert refused.status == LoadStatus.REJECTED.value
    assert (refused.filename, refused.format) == (filename, filename.rsplit(".", 1)[1])
    assert (refused.rows_read, refused.rows_loaded) == (0, 0)
    assert refused.finished_at is not None
    assert refused.report["errors"] == [
        {"type": "file", "field": None, "message": caught.value.message, "count": 1, "examples": []}
    ]
    assert refused.report["summary"] == f"The file was refused: {caught.value.message}"
    assert refused.report["filename"] == filename
    assert stored(db, stations) == []
    with Session(engine) as fresh:
        entry = fresh.scalars(select(AuditEntry).where(AuditEntry.action == "datahub.load")).one()
    assert entry.entity_id == "stations"
    assert entry.summary.startswith(f"rejected (append) {filename}: The file was refused")


def test_a_refusal_after_writes_of_the_callers_transaction_is_recorded_when_it_ends(
    db: Session, engine: Engine, stations: Dataset, tmp_path: Path
) -> None:
    stations.title_en = "Renamed"
    db.flush()  # the caller has written: a second writer would wait for its locks
    with pytest.raises(InvalidInput, match="both called 'name'"):
        load(db, stations, csv_file(tmp_path, ["id,name,name", "1,a,b"]))
    assert _loads(engine, stations) == []

    db.rollback()

    [refused] = _loads(engine, stations)
    assert refused.status == LoadStatus.REJECTED.value
    assert service.get_dataset(db, name="stations").title_en == "Stations"


def test_a_refusal_in_a_transaction_the_caller_commits_is_recorded_once(
    db: Session, engine: Engine, stations: Dataset, tmp_path: Path
) -> None:
    stations.title_en = "Renamed"
    db.flush()
    with pytest.raises(InvalidInput):
        load(db, stations, csv_file(tmp_path, ["id,name,name", "1,a,b"]))
    db.commit()
    db.rollback()  # a later transaction of the same session records nothing more

    assert [load.status for load in _loads(engine, stations)] == ["rejected"]


def test_a_file_in_an_unknown_format_is_recorded_with_the_format_asked_for(
    db: Session, engine: Engine, stations: Dataset, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, ["id,name", "1,a"])
    with pytest.raises(InvalidInput, match="Cannot read the format 'doc'"):
        load(db, stations, path, format="doc")
    db.rollback()
    [refused] = _loads(engine, stations)
    assert refused.format == "doc"


# --- foreign keys into fields the department may no longer read ------------------------------

WELLS = {"fields": [{"name": "code", "type": "string"}], "primaryKey": ["code"]}
SITES = {
    "fields": [{"name": "site", "type": "string"}, {"name": "well", "type": "string"}],
    "foreignKeys": [{"fields": ["well"], "reference": {"resource": "wells", "fields": ["code"]}}],
}


def test_a_load_whose_foreign_key_grant_expired_is_forbidden_and_says_how_to_ask(
    db: Session,
    make_dataset: MakeDataset,
    people: dict[str, User],
    stewards: dict[str, User],
    tmp_path: Path,
) -> None:
    wells = make_dataset(
        name="wells",
        descriptor=WELLS,
        rows=[{"code": "W1"}],
        access="restricted",
        department="WATER",
    )
    asked = sharing.request_access(
        db,
        dataset=wells,
        user=people["cmb"],
        purpose="Linking inspection sites to the wells they inspect",
        actor=TEST_ACTOR,
    )
    grant = sharing.decide_request(
        db,
        request_id=asked.id,
        approve=True,
        user=stewards["water"],
        expires_at=utcnow() + timedelta(days=1),
        actor=TEST_ACTOR,
    )
    db.commit()
    sites = make_dataset(name="sites", descriptor=SITES, department="CMB")
    path = csv_file(tmp_path, ["site,well", "a,W1"])
    assert load(db, sites, path).status == LoadStatus.COMMITTED.value
    db.commit()

    grant.expires_at = utcnow() - timedelta(minutes=1)
    db.commit()
    with pytest.raises(Forbidden) as caught:
        load(db, sites, csv_file(tmp_path, ["site,well", "b,W1"], "again.csv"))
    message = caught.value.message
    assert "refers to wells (code), which CMB may no longer read" in message
    assert 'POST /api/data/wells/requests {"purpose": …, "fields": ["code"]}' in message
    assert caught.value.details == {"dataset": "wells", "fields": ["code"]}
    with pytest.raises(Forbidden):
        ingest.validate_file(
            db,
            dataset=sites,
            schema=schema_of(db, sites),
            version=1,
            path=path,
            filename="check.csv",
        )
    assert stored(db, sites, "f0") == ["a"]
    assert db.scalar(select(func.count()).select_from(Load).where(Load.dataset_id == sites.id)) == 1


# --- files without a header row --------------------------------------------------------------


def _headerless(db: Session, dataset: Dataset, path: Path) -> Load:
    return ingest.load_file(
        db,
        dataset=dataset,
        schema=schema_of(db, dataset),
        version=1,
        path=path,
        filename=path.name,
        options=LoadOptions(),
        actor=TEST_ACTOR,
        area_codes=frozenset(),
    )


def test_a_headerless_numeric_csv_loads_as_data(
    db: Session, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    readings = make_dataset(
        name="readings",
        descriptor={"fields": [{"name": "x", "type": "integer"}, {"name": "y", "type": "number"}]},
    )
    done = _headerless(db, readings, csv_file(tmp_path, ["1,2.5", "3,4", "5,-1"]))

    assert done.status == LoadStatus.COMMITTED.value, done.report
    assert stored(db, readings, "f0") == [1, 3, 5]
    assert done.report["columns"] == ["x", "y"]
    assert any("no header row" in warning for warning in done.report["warnings"])


TEXT_SCHEMA = {"fields": [{"name": "name", "type": "string"}, {"name": "city", "type": "string"}]}


def test_a_headerless_text_csv_loads_as_data_when_no_cell_is_a_field_name(
    db: Session, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    people_list = make_dataset(name="people-list", descriptor=TEXT_SCHEMA)
    done = _headerless(db, people_list, csv_file(tmp_path, ["Ada,Paris", "Bob,Rome"]))

    assert done.status == LoadStatus.COMMITTED.value, done.report
    assert stored(db, people_list, "f0") == ["Ada", "Bob"]


def test_a_first_row_naming_a_field_stays_a_header(
    db: Session, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    people_list = make_dataset(name="people-list", descriptor=TEXT_SCHEMA)
    done = _headerless(db, people_list, csv_file(tmp_path, ["city,name", "Paris,Ada"]))

    assert done.status == LoadStatus.COMMITTED.value, done.report
    assert stored(db, people_list, "f0") == ["Ada"]


def test_a_headerless_file_with_another_number_of_columns_is_rejected_saying_why(
    db: Session, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    readings = make_dataset(
        name="readings",
        descriptor={"fields": [{"name": "x", "type": "integer"}, {"name": "y", "type": "number"}]},
    )
    done = _headerless(db, readings, csv_file(tmp_path, ["1,2.5,7", "3,4,8"]))

    assert done.status == LoadStatus.REJECTED.value
    [error] = done.report["errors"]
    assert (error["type"], error["field"]) == ("column-count", None)
    assert "no header row and 3 columns, but the schema has 2 fields (x, y)" in error["message"]
