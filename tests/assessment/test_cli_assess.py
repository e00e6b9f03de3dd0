"""``cityos assess``: runs on files without a database, and the database commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cityos.assessment import service
from cityos.cli import app
from tests.assessment.conftest import VALUES, small_document
from tests.assessment.live_support import worked_lately
from tests.cases.conftest import CatalogFixture

__all__ = ["worked_lately"]

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """framework.yaml (framework T) and values.csv (its values, long form) in tmp_path."""
    (tmp_path / "framework.yaml").write_text(
        yaml.safe_dump(small_document(), allow_unicode=True), "utf-8"
    )
    rows = ["unit,year,indicator,value", *(f"{u},{y},{c},{v}" for u, y, c, v in VALUES)]
    (tmp_path / "values.csv").write_text("\n".join(rows) + "\n", "utf-8")
    return tmp_path


def _run(files: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [
            "assess",
            "run",
            str(files / "framework.yaml"),
            str(files / "values.csv"),
            "--out",
            str(files / "report.html"),
            *extra,
        ],
    )
    return result.exit_code, result.output


def test_a_run_on_files_writes_the_report_the_workbook_and_a_summary(files: Path) -> None:
    code, output = _run(files, "--xlsx", str(files / "results.xlsx"), "--year", "2024")
    assert code == 0, output
    assert "Test index 2024" in output
    assert "alpha" in output
    assert "Assessed 4 of 4 units on 3 indicators for 2024" in output
    assert (files / "report.html").read_text("utf-8").startswith("<!doctype html>")
    assert (files / "results.xlsx").read_bytes()[:2] == b"PK"


def test_a_run_config_file_sets_the_method_and_shows_rank_intervals(files: Path) -> None:
    (files / "run.yaml").write_text(
        "normalise: {method: zscore}\nuncertainty: {runs: 30, seed: 1}\n", "utf-8"
    )
    code, output = _run(files, "--config", str(files / "run.yaml"), "--lang", "zh-CN")
    assert code == 0, output
    assert "median rank" in output
    assert 'lang="zh-CN"' in (files / "report.html").read_text("utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config": "normalise: {method: magic}\n"}, "magic"),
        ({"config": "- a list\n"}, "must hold a mapping"),
        ({"values": "unit,year,indicator,value\nalpha,2024,T.A1,lots\n"}, "lots"),
        ({"values": "what;ever\n1;2\n"}, "Cannot understand the header"),
        ({"framework": "code: T\nroot: {code: T, children: [}\n"}, "line"),
        ({"year": "1999"}, "1999"),
    ],
)
def test_bad_input_fails_with_a_message(files: Path, change: dict[str, str], message: str) -> None:
    extra: list[str] = []
    if "config" in change:
        (files / "run.yaml").write_text(change["config"], "utf-8")
        extra += ["--config", str(files / "run.yaml")]
    if "values" in change:
        (files / "values.csv").write_text(change["values"], "utf-8")
    if "framework" in change:
        (files / "framework.yaml").write_text(change["framework"], "utf-8")
    if "year" in change:
        extra += ["--year", change["year"]]
    code, output = _run(files, *extra)
    assert code == 1
    assert message in output
    assert not (files / "report.html").exists()


def test_a_builtin_framework_is_named_by_its_code(files: Path) -> None:
    result = runner.invoke(
        app,
        ["assess", "run", "no-such", str(files / "values.csv"), "--out", str(files / "r.html")],
    )
    assert result.exit_code == 1
    assert "cityos-live" in result.output


def test_the_un_habitat_sheet_is_assessed_as_published(shared_dir: Path, tmp_path: Path) -> None:
    sheet = shared_dir / "data" / "cities" / "un-habitat-cpi-2016.xls"
    # the sheet's regions are the units' group (see the report on group_by: region)
    (tmp_path / "run.yaml").write_text("impute: {group_by: group}\n", "utf-8")
    result = runner.invoke(
        app,
        [
            "assess",
            "run",
            "un-habitat-cpi",
            str(sheet),
            "--config",
            str(tmp_path / "run.yaml"),
            "--year",
            "2015",
            "--out",
            str(tmp_path / "cpi.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "City Prosperity Index" in result.output
    assert "Singapore" in (tmp_path / "cpi.html").read_text("utf-8")


# --- database commands -------------------------------------------------------------------


def test_frameworks_are_listed_imported_and_exported(
    cli_database: str, db: Session, files: Path
) -> None:
    imported = runner.invoke(app, ["assess", "frameworks", "import", str(files / "framework.yaml")])
    assert imported.exit_code == 0, imported.output
    assert "Imported T Test index" in imported.output
    listed = runner.invoke(app, ["assess", "frameworks", "list"])
    assert listed.exit_code == 0, listed.output
    assert "cityos-live" in listed.output
    assert "T" in listed.output
    out = files / "exported.yaml"
    exported = runner.invoke(app, ["assess", "frameworks", "export", "T", str(out)])
    assert exported.exit_code == 0, exported.output
    assert yaml.safe_load(out.read_text("utf-8"))["root"]["children"][0]["code"] == "T.A"
    missing = runner.invoke(app, ["assess", "frameworks", "export", "NOPE"])
    assert missing.exit_code == 1
    assert "no framework with the code 'NOPE'" in missing.output


def test_a_bad_framework_file_is_not_imported(cli_database: str, db: Session, files: Path) -> None:
    document = small_document()
    document["root"]["children"][0]["weight"] = 70
    (files / "bad.yaml").write_text(yaml.safe_dump(document), "utf-8")
    result = runner.invoke(app, ["assess", "frameworks", "import", str(files / "bad.yaml")])
    assert result.exit_code == 1
    assert "sum to 110" in result.output
    db.expire_all()
    assert "T" not in {row.code for row in service.list_frameworks(db)}


def test_values_are_imported_into_the_database(cli_database: str, db: Session, files: Path) -> None:
    result = runner.invoke(app, ["assess", "values", "import", str(files / "values.csv")])
    assert result.exit_code == 0, result.output
    assert f"Imported {len(VALUES)} values from values.csv (long layout)" in result.output
    db.expire_all()
    assert len(service.list_values(db)) == len(VALUES)
    (files / "bad.csv").write_text("unit,year,indicator,value\nzeta,2024,T.A1,x\n", "utf-8")
    refused = runner.invoke(app, ["assess", "values", "import", str(files / "bad.csv")])
    assert refused.exit_code == 1
    db.expire_all()
    assert "zeta" not in {u.code for u in service.list_units(db)}


def test_live_metrics_need_the_city_map_to_snapshot(cli_database: str, db: Session) -> None:
    shown = runner.invoke(app, ["assess", "live"])
    assert shown.exit_code == 0, shown.output
    assert "Cases resolved within their SLA" in shown.output
    snapshot = runner.invoke(app, ["assess", "live", "--snapshot"])
    assert snapshot.exit_code == 1
    assert "There is no home city" in snapshot.output


def test_live_metrics_of_the_test_city_are_shown_and_stored(
    cli_database: str, db: Session, worked_lately: CatalogFixture
) -> None:
    result = runner.invoke(app, ["assess", "live", "--snapshot"])
    assert result.exit_code == 0, result.output
    assert "TC-W" in result.output
    db.expire_all()
    stored = service.list_values(db, indicator_code="cases.median_hours_to_resolve")
    assert [(row.unit_code, row.value, row.source) for row in stored] == [
        ("TC", 10.0, "live"),
        ("TC-E", 5.0, "live"),
        ("TC-W", 20.0, "live"),
    ]
    assert f"Stored {len(service.list_values(db))} live values" in result.output
