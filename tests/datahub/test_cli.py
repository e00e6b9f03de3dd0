"""``cityos data``: list, load (with a rejected file), validate, infer, export, elements."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from cityos.datahub import cli, service
from cityos.datahub.models import Load
from tests.datahub.access_support import PLAIN_ROWS, PLAIN_SCHEMA
from tests.datahub.conftest import MakeDataset

runner = CliRunner()
GOOD_CSV = "id,name,beds\n10,Central,300\n11,Harbour,\n"
BAD_CSV = "id,name,beds\n10,Central,lots\n10,Harbour,5\n"


def said(result: Result) -> str:
    """The output on one line (the console wraps long lines)."""
    return " ".join(result.output.split())


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_stores_a_file_and_lists_the_dataset(
    cli_database: str, db: Session, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    make_dataset(name="hospitals", descriptor=PLAIN_SCHEMA, rows=PLAIN_ROWS)
    path = _file(tmp_path, "more.csv", GOOD_CSV)
    result = runner.invoke(cli.app, ["load", "hospitals", str(path)])
    assert result.exit_code == 0, result.output
    assert "Loaded 2 rows from more.csv into hospitals" in said(result)
    assert "committed" in said(result)
    db.expire_all()
    assert service.get_dataset(db, name="hospitals").row_count == 4
    replaced = runner.invoke(cli.app, ["load", "hospitals", str(path), "--mode", "replace"])
    assert replaced.exit_code == 0, replaced.output
    db.expire_all()
    assert service.get_dataset(db, name="hospitals").row_count == 2

    listing = runner.invoke(cli.app, ["list"])
    assert listing.exit_code == 0, listing.output
    assert "hospitals" in listing.output
    assert "open" in listing.output


def test_a_rejected_load_exits_1_with_the_report_and_stays_in_the_history(
    cli_database: str, db: Session, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    dataset = make_dataset(name="hospitals", descriptor=PLAIN_SCHEMA, rows=PLAIN_ROWS)
    path = _file(tmp_path, "bad.csv", BAD_CSV)
    result = runner.invoke(cli.app, ["load", "hospitals", str(path)])
    assert result.exit_code == 1
    text = said(result)
    assert "Rejected bad.csv: nothing stored" in text
    assert "type-error in 'beds'" in text
    assert "row 2 'lots'" in text
    db.expire_all()
    statuses = db.scalars(
        select(Load.status).where(Load.dataset_id == dataset.id).order_by(Load.id)
    ).all()
    assert statuses == ["committed", "rejected"]
    quarantined = runner.invoke(
        cli.app, ["load", "hospitals", str(path), "--on-error", "quarantine"]
    )
    assert quarantined.exit_code == 0, quarantined.output
    assert "rows quarantined" in said(quarantined)


def test_bad_arguments_say_what_to_fix(
    cli_database: str, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    make_dataset(name="hospitals", descriptor=PLAIN_SCHEMA)
    path = _file(tmp_path, "more.csv", GOOD_CSV)
    unknown = runner.invoke(cli.app, ["load", "clinics", str(path)])
    assert unknown.exit_code == 1
    assert "There is no dataset called 'clinics'" in said(unknown)
    mode = runner.invoke(cli.app, ["load", "hospitals", str(path), "--mode", "merge"])
    assert mode.exit_code == 2
    missing = runner.invoke(cli.app, ["load", "hospitals", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2


def test_validate_checks_without_storing(
    cli_database: str, db: Session, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    make_dataset(name="hospitals", descriptor=PLAIN_SCHEMA)
    good = runner.invoke(
        cli.app, ["validate", "hospitals", str(_file(tmp_path, "a.csv", GOOD_CSV))]
    )
    assert good.exit_code == 0, good.output
    assert "Valid a.csv" in said(good)
    bad = runner.invoke(cli.app, ["validate", "hospitals", str(_file(tmp_path, "b.csv", BAD_CSV))])
    assert bad.exit_code == 1
    assert "Invalid b.csv" in said(bad)
    db.expire_all()
    dataset = service.get_dataset(db, name="hospitals")
    assert dataset.row_count == 0
    assert db.scalars(select(Load).where(Load.dataset_id == dataset.id)).all() == []


def test_infer_prints_or_writes_a_suggested_schema(
    cli_database: str, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    make_dataset(name="seeded", descriptor=PLAIN_SCHEMA)  # seeds the data elements
    path = _file(tmp_path, "air.csv", "station,pm25\nS1,12.5\nS2,8\n")
    result = runner.invoke(cli.app, ["infer", str(path)])
    assert result.exit_code == 0, result.output
    assert '"pm25"' in result.output
    out = tmp_path / "schema.json"
    written = runner.invoke(cli.app, ["infer", str(path), "--output", str(out)])
    assert written.exit_code == 0, written.output
    descriptor = json.loads(out.read_text("utf-8"))
    assert [f["name"] for f in descriptor["fields"]] == ["station", "pm25"]


def test_export_writes_every_row_and_field(
    cli_database: str, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    make_dataset(name="hospitals", descriptor=PLAIN_SCHEMA, rows=PLAIN_ROWS)
    out = tmp_path / "hospitals.csv"
    result = runner.invoke(cli.app, ["export", "hospitals", str(out)])
    assert result.exit_code == 0, result.output
    assert "Exported 2 rows of hospitals to hospitals.csv (csv)" in said(result)
    lines = out.read_text("utf-8").splitlines()
    assert lines[0] == "id,name,beds"
    assert lines[1:] == ["1,North,120", "2,South,"]
    unknown = runner.invoke(cli.app, ["export", "hospitals", str(tmp_path / "rows.txt")])
    assert unknown.exit_code == 1
    assert "give --format" in said(unknown)
    ndjson = runner.invoke(
        cli.app, ["export", "hospitals", str(tmp_path / "rows.txt"), "--format", "ndjson"]
    )
    assert ndjson.exit_code == 0, ndjson.output
    first = json.loads((tmp_path / "rows.txt").read_text("utf-8").splitlines()[0])
    assert first == {"id": 1, "name": "North", "beds": 120}


def test_elements_lists_the_field_standard(cli_database: str, db: Session) -> None:
    result = runner.invoke(cli.app, ["elements", "--seed"])
    assert result.exit_code == 0, result.output
    assert "Stored" in result.output
    assert "uscc" in result.output
    again = runner.invoke(cli.app, ["elements", "--seed"])
    assert "Stored 0 built-in data element(s)." in again.output
