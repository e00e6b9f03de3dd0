"""``cityos cases import FILE --mapping MAP.yaml`` and ``cityos cases export FILE``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from cityos.cases.models import Case
from cityos.cli import app
from tests.cases.import_support import MAPPING, Boston, boston

__all__ = ["boston"]

runner = CliRunner()


def said(result: Result) -> str:
    """The output on one line (the console wraps long lines)."""
    return " ".join(result.output.split())


def case_count(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(Case)) or 0)


def test_import_then_export_from_the_command_line(
    cli_database: str, db: Session, boston: Boston, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["cases", "import", str(boston.csv), "--mapping", str(MAPPING)])
    assert result.exit_code == 0, result.output
    assert "Imported 100 of 100 rows from boston311-100.csv" in said(result)
    assert "0 already imported, 0 rejected" in said(result)
    assert case_count(db) == 100

    again = runner.invoke(app, ["cases", "import", str(boston.csv), "--mapping", str(MAPPING)])
    assert again.exit_code == 0, again.output
    assert "Imported 0 of 100 rows" in said(again)
    assert "100 already imported" in said(again)
    assert case_count(db) == 100

    geojson = tmp_path / "closed.geojson"
    result = runner.invoke(app, ["cases", "export", str(geojson), "--status", "closed"])
    assert result.exit_code == 0, result.output
    document = json.loads(geojson.read_text("utf-8"))
    closed = len(document["features"])
    assert closed > 0
    assert f"Exported {closed} cases to closed.geojson (geojson" in said(result)
    assert {f["properties"]["status"] for f in document["features"]} == {"closed"}

    table = tmp_path / "cases.csv"
    result = runner.invoke(
        app, ["cases", "export", str(table), "--service", "ROAD-POTHOLE", "--from", "2022-01-01"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(table.read_text("utf-8"))))
    assert len(rows) == 2
    assert {row["service_code"] for row in rows} == {"ROAD-POTHOLE"}


def test_a_damaged_file_exits_1_lists_the_rows_and_writes_the_report(
    cli_database: str, db: Session, boston: Boston, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(
        app,
        [
            "cases",
            "import",
            str(boston.bad_tsv),
            "--mapping",
            str(MAPPING),
            "--rejects",
            str(rejects),
        ],
    )
    assert result.exit_code == 1
    assert "1 of 100 rows of boston311-100-bad.tsv have problems, so nothing was imported" in said(
        result
    )
    assert "row 41, (row)" in said(result)
    assert case_count(db) == 0
    assert "the row has 30 values" in rejects.read_text("utf-8")


def test_skip_invalid_imports_the_good_rows_and_saves_the_rejected_ones(
    cli_database: str,
    db: Session,
    boston: Boston,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app, ["cases", "import", str(boston.bad_tsv), "--mapping", str(MAPPING), "--skip-invalid"]
    )
    assert result.exit_code == 0, result.output
    assert "Imported 99 of 100 rows" in said(result)
    assert "1 rejected" in said(result)
    report = tmp_path / "boston311-100-bad-rejects.csv"
    rows = list(csv.DictReader(io.StringIO(report.read_text("utf-8"))))
    assert [(row["row"], row["column"]) for row in rows] == [("41", "(row)")]
    assert case_count(db) == 99


def test_a_bad_mapping_exits_1_with_each_problem_and_its_place(
    cli_database: str, db: Session, boston: Boston, tmp_path: Path
) -> None:
    mapping = tmp_path / "bad.yaml"
    mapping.write_text(
        "source: boston311\ncolumns: {external_id: case_enquiry_id, opened: open_dt}\n"
        "categories: {map: {Pothole: ROAD-POTHOLE}}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["cases", "import", str(boston.csv), "--mapping", str(mapping)])
    assert result.exit_code == 1
    assert "The mapping bad.yaml has 3 problem(s); nothing was imported" in said(result)
    assert "columns.category: is required" in said(result)
    assert "columns.lat: is required" in said(result)

    mapping.write_text(MAPPING.read_text("utf-8").replace("ROAD-POTHOLE", "ROAD-HOLE"), "utf-8")
    result = runner.invoke(app, ["cases", "import", str(boston.csv), "--mapping", str(mapping)])
    assert result.exit_code == 1
    assert "categories.map['Request for Pothole Repair']: there is no service 'ROAD-HOLE'" in said(
        result
    )
    assert case_count(db) == 0


def test_an_export_with_an_unknown_service_exits_1(
    cli_database: str, db: Session, boston: Boston, tmp_path: Path
) -> None:
    out = tmp_path / "x.csv"
    result = runner.invoke(app, ["cases", "export", str(out), "--service", "NOPE"])
    assert result.exit_code == 1
    assert "Unknown service_code NOPE" in said(result)
    assert not out.exists()
