"""Importing historical cases: the Boston 311 sample, all-or-nothing, skip-invalid, re-import,
every kind of bad row and bad mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.cases import importer, workflow
from cityos.cases.import_mapping import load_mapping, loads_mapping, parse_mapping
from cityos.cases.models import Case, Category
from cityos.errors import InvalidInput, Unprocessable
from tests.cases.import_support import ACTOR, MAPPING, Boston, boston

__all__ = ["boston"]

HEADER = "id,opened,closed,type,state,lat,lon,note\n"


def case_count(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(Case)) or 0)


def run(db: Session, path: Path, *, skip_invalid: bool = False) -> importer.ImportReport:
    """Import with the Boston mapping (its time zone is America/New_York)."""
    return importer.import_file(
        db, path, load_mapping(MAPPING), actor=ACTOR, skip_invalid=skip_invalid
    )


def small_mapping(**changes: object) -> dict[str, object]:
    """A mapping for the small CSV files these tests write (HEADER's columns)."""
    mapping: dict[str, object] = {
        "source": "town",
        "datetimes": {"formats": ["%Y-%m-%d %H:%M"], "timezone": "UTC"},
        "columns": {
            "external_id": "id",
            "opened": "opened",
            "closed": "closed",
            "category": "type",
            "status": "state",
            "lat": "lat",
            "lon": "lon",
            "description": "note",
        },
        "categories": {"map": {"pothole": "ROAD-POTHOLE", "light": "STREETLIGHT-OUT"}},
        "statuses": {"map": {"open": "submitted", "done": "resolved", "dropped": "closed"}},
        "close_reasons": {"default": "no_further_action"},
    }
    mapping.update(changes)
    return mapping


def write_csv(tmp_path: Path, rows: list[str], name: str = "town.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


# --- the Boston sample ------------------------------------------------------------------------


def test_the_boston_sample_is_imported_routed_and_timed(db: Session, boston: Boston) -> None:
    report = run(db, boston.csv)
    db.commit()
    assert (report.rows, report.imported, report.skipped, report.rejected) == (100, 100, 0, 0)
    assert case_count(db) == 100

    statuses = dict(db.execute(select(Case.status, func.count()).group_by(Case.status)).all())
    assert statuses["submitted"] == 15  # Open
    assert statuses["resolved"] + statuses["closed"] == 85  # Closed, split by the close rules
    reasons = set(db.scalars(select(Case.close_reason).where(Case.status == "closed")))
    assert {"duplicate", "no_further_action", "not_our_responsibility"} <= reasons

    first = db.scalar(select(Case).where(Case.source_ref == "boston311:101004143000"))
    assert first is not None
    assert first.source == "import"
    # open_dt 2022-01-21 13:47 in Boston (EST, UTC-5) is 18:47 UTC
    assert first.requested_at == datetime(2022, 1, 21, 18, 47, tzinfo=UTC)
    assert first.category.service_code == "OTHER"  # an unmapped type takes the default
    assert first.routing_reason == "department given by the source: TRANS"  # BTDT
    assert first.routing_rule_id is None

    # no department mapping (GEN_): routed by the city's rule for the east district
    needles = db.scalar(select(Case).where(Case.source_ref == "boston311:101004130437"))
    assert needles is not None
    assert needles.category.service_code == "STREET-CLEANING"
    assert needles.routing_rule_id is not None
    assert "BOS-E" in needles.routing_reason
    assert needles.resolution_note == "Removed df"
    assert needles.resolved_at == datetime(2022, 1, 19, 16, 42, 16, tzinfo=UTC)
    assert needles.next_due_at is None  # ended: no clock running
    assert needles.district_id is not None

    pothole = db.scalar(select(Case).where(Case.source_ref == "boston311:101004113717"))
    assert pothole is not None
    category = db.get(Category, pothole.category_id)
    assert category is not None
    assert category.service_code == "ROAD-POTHOLE"
    target = category.sla[pothole.priority]
    assert pothole.resolve_due_at is not None
    hours = (pothole.resolve_due_at - pothole.requested_at).total_seconds() / 3600
    assert hours == target["resolve_hours"]

    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "cases.import")).all()
    assert len(audit) == 1
    assert audit[0].after is not None
    assert audit[0].after["imported"] == 100


def test_an_imported_case_shows_its_history_from_its_times(db: Session, boston: Boston) -> None:
    run(db, boston.csv)
    db.commit()
    closed = db.scalar(
        select(Case).where(Case.status == "closed", Case.close_reason == "duplicate")
    )
    assert closed is not None
    updates = workflow.history(db, case=closed, public_only=True)
    assert [u.kind for u in updates] == ["submitted", "status"]
    assert updates[-1].status_to == "closed"
    assert updates[-1].at == closed.resolved_at
    assert "Duplicate" in updates[-1].note


def test_a_damaged_file_writes_nothing_and_names_the_bad_row(db: Session, boston: Boston) -> None:
    with pytest.raises(importer.ImportRejected) as caught:
        run(db, boston.bad_tsv)
    error = caught.value
    assert error.status_code == 422
    assert "nothing was imported" in error.message
    assert "row 41" in error.message
    assert error.report.problems["row"].to_list() == [41]
    assert "30 values but the header has 29" in error.report.problems["reason"][0]
    db.rollback()
    assert case_count(db) == 0


def test_skip_invalid_writes_the_good_rows_and_reports_the_rejected_ones(
    db: Session, boston: Boston, tmp_path: Path
) -> None:
    report = run(db, boston.bad_tsv, skip_invalid=True)
    db.commit()
    assert (report.imported, report.rejected) == (99, 1)
    assert case_count(db) == 99
    assert db.scalar(select(Case).where(Case.source_ref == "boston311:101004113615")) is None
    out = tmp_path / "rejects.csv"
    importer.write_problems(report, out)
    rejects = pl.read_csv(out, infer_schema=False)
    assert rejects.columns == ["row", "column", "value", "reason"]
    assert rejects["row"].to_list() == ["41"]


def test_importing_the_same_file_again_adds_nothing(db: Session, boston: Boston) -> None:
    run(db, boston.csv)
    db.commit()
    again = run(db, boston.csv)
    db.commit()
    assert (again.imported, again.skipped, again.rejected) == (0, 100, 0)
    assert case_count(db) == 100
    # the damaged copy's bad row was imported from the good file: it is skipped, not rejected
    damaged = run(db, boston.bad_tsv)
    assert (damaged.imported, damaged.skipped, damaged.rejected) == (0, 100, 0)


# --- bad rows ---------------------------------------------------------------------------------


def test_every_bad_row_is_listed_with_its_column_and_reason(
    db: Session, boston: Boston, tmp_path: Path
) -> None:
    long_text = "x" * 4001
    path = write_csv(
        tmp_path,
        [
            "1,2024-03-01 10:00,,pothole,open,42.35,-71.06,fine",  # row 2: good
            "2,,,pothole,open,42.35,-71.06,no opened",  # 3
            "3,yesterday,,pothole,open,42.35,-71.06,bad date",  # 4
            "4,2024-03-02 10:00,2024-03-01 10:00,pothole,done,42.35,-71.06,closed first",  # 5
            "5,2024-03-01 10:00,,graffiti,open,42.35,-71.06,unknown type",  # 6
            "6,2024-03-01 10:00,,pothole,lost,42.35,-71.06,unknown status",  # 7
            "7,2024-03-01 10:00,,pothole,open,north,-71.06,not a number",  # 8
            "8,2024-03-01 10:00,,pothole,open,40.7,-74.0,New York",  # 9
            "9,2024-03-01 10:00,,pothole,open,-71.06,42.35,swapped",  # 10
            "1,2024-03-01 10:00,,pothole,open,42.35,-71.06,same id",  # 11
            f"10,2024-03-01 10:00,,pothole,open,42.35,-71.06,{long_text}",  # 12
            "11,2024-03-01 10:00,,pothole,done,42.35,-71.06,ended but no closed",  # 13
            "12,2999-03-01 10:00,,pothole,open,42.35,-71.06,future",  # 14
            "13,2024-03-01 10:00,,pothole,open,95,-71.06,not a latitude",  # 15
        ],
    )
    mapping = parse_mapping(small_mapping())
    with pytest.raises(importer.ImportRejected) as caught:
        importer.import_file(db, path, mapping, actor=ACTOR)
    problems = caught.value.report.problems
    found = {(row, column): reason for row, column, _, reason in problems.iter_rows()}
    assert "is empty" in found[(3, "opened")]
    assert "cannot be read as a date-time" in found[(4, "opened")]
    assert "before the case was opened" in found[(5, "closed")]
    assert "not a known category" in found[(6, "type")]
    assert "not a known status" in found[(7, "state")]
    assert "not a number" in found[(8, "lat")]
    assert found[(9, "lat/lon")] == "lies outside the city"
    assert "look swapped" in found[(10, "lat/lon")]
    assert "appears again in the file (first in row 2)" in found[(11, "id")]
    assert "is 4001 characters long; at most 4000" in found[(12, "note")]
    assert "the case has ended" in found[(13, "closed")]
    assert "in the future" in found[(14, "opened")]
    assert "not a latitude" in found[(15, "lat")]
    assert 2 not in problems["row"].to_list()
    assert caught.value.report.rejected == 14 - 1
    db.rollback()
    assert case_count(db) == 0

    report = importer.import_file(db, path, mapping, actor=ACTOR, skip_invalid=True)
    assert report.imported == 1


def test_dropped_rows_are_closed_with_the_default_reason_and_resolved_rows_keep_their_note(
    db: Session, boston: Boston, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        [
            "1,2024-03-01 10:00,2024-03-01 12:30,pothole,dropped,42.35,-71.06,gone",
            "2,2024-03-01 10:00,2024-03-02 10:00,light,done,42.35,-71.06,lamp",
        ],
    )
    mapping = small_mapping(
        columns={**small_mapping()["columns"], "resolution_note": "note"}  # type: ignore[dict-item]
    )
    importer.import_file(db, path, parse_mapping(mapping), actor=ACTOR)
    dropped = db.scalar(select(Case).where(Case.source_ref == "town:1"))
    done = db.scalar(select(Case).where(Case.source_ref == "town:2"))
    assert dropped is not None
    assert done is not None
    assert (dropped.status, dropped.close_reason) == ("closed", "no_further_action")
    assert dropped.resolved_at == datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    assert (done.status, done.resolution_note) == ("resolved", "lamp")
    assert done.department_id is not None  # STREETLIGHT-OUT's default department (LIGHT)


def test_a_tsv_and_an_xlsx_file_are_read_too(db: Session, boston: Boston, tmp_path: Path) -> None:
    tsv = tmp_path / "town.tsv"
    tsv.write_text(
        HEADER.replace(",", "\t") + "1\t2024-03-01 10:00\t\tpothole\topen\t42.35\t-71.06\tx\n",
        encoding="utf-8",
    )
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER.strip().split(","))
    sheet.append([2, datetime(2024, 3, 1, 10, 0), None, "light", "open", 42.35, -71.06, "lamp"])
    xlsx = tmp_path / "town.xlsx"
    workbook.save(xlsx)
    mapping = parse_mapping(small_mapping())
    assert importer.import_file(db, tsv, mapping, actor=ACTOR).imported == 1
    assert importer.import_file(db, xlsx, mapping, actor=ACTOR).imported == 1
    light = db.scalar(select(Case).where(Case.source_ref == "town:2"))
    assert light is not None
    assert light.requested_at == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def test_a_file_with_a_header_only_or_nothing_gets_a_clear_error(
    db: Session, boston: Boston, tmp_path: Path
) -> None:
    mapping = parse_mapping(small_mapping())
    with pytest.raises(InvalidInput, match="no rows"):
        importer.import_file(db, write_csv(tmp_path, []), mapping, actor=ACTOR)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput, match="empty"):
        importer.import_file(db, empty, mapping, actor=ACTOR)


# --- bad mappings -----------------------------------------------------------------------------


def test_a_mapping_with_mistakes_lists_each_with_its_place() -> None:
    text = """
source: town
columns: {external_id: id, opened: opened, category: type, lat: lat}
categories: {map: {pothole: ROAD-POTHOLE}, unmapped: sometimes}
statuses: {map: {open: submited}}
colums: {}
"""
    with pytest.raises(Unprocessable) as caught:
        loads_mapping(text, name="town.yaml")
    where = {item["where"]: item["message"] for item in caught.value.details}
    assert caught.value.message.startswith("The mapping town.yaml has")
    assert where["columns.lon"] == "is required"
    assert "categories.unmapped" in where
    assert "statuses.map.open" in where
    assert "not a mapping setting" in where["colums"]


def test_a_mapping_that_is_not_yaml_or_has_a_bad_pattern_is_refused() -> None:
    with pytest.raises(Unprocessable, match="not valid YAML at line 3"):
        loads_mapping("source: town\ncolumns: [unclosed\n")
    with pytest.raises(Unprocessable, match="not a regular expression"):
        parse_mapping(
            small_mapping(close_reasons={"rules": [{"pattern": "(", "reason": "duplicate"}]})
        )
    with pytest.raises(Unprocessable, match="time zone"):
        parse_mapping(small_mapping(datetimes={"timezone": "Mars/Olympus"}))


def test_a_mapping_naming_unknown_codes_or_columns_writes_nothing(
    db: Session, boston: Boston, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, ["1,2024-03-01 10:00,,pothole,open,42.35,-71.06,x"])
    mapping = small_mapping(
        categories={"map": {"pothole": "ROAD-HOLE"}},
        departments={"map": {"roads": "NOPE"}},
        columns={**small_mapping()["columns"], "department": "dept"},  # type: ignore[dict-item]
    )
    with pytest.raises(Unprocessable) as caught:
        importer.import_file(db, path, parse_mapping(mapping), actor=ACTOR)
    where = {item["where"]: item["message"] for item in caught.value.details}
    assert "no service 'ROAD-HOLE'" in where["categories.map['pothole']"]
    assert "no department 'NOPE'" in where["departments.map['roads']"]
    assert "'dept' is not a column of town.csv" in where["columns.department"]
    assert case_count(db) == 0
