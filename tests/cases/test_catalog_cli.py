"""``cityos cases catalog import/export FILE``."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from cityos.cases import catalog, catalog_file, routing
from cityos.cli import app
from tests.cases.conftest import CATALOG, CatalogFixture

runner = CliRunner()


def said(result: Result) -> str:
    """The output on one line (the console wraps long lines)."""
    return " ".join(result.output.split())


def test_export_then_import_from_the_command_line(
    cli_database: str, db: Session, services: CatalogFixture, tmp_path: Path
) -> None:
    path = tmp_path / "catalog.yaml"
    exported = runner.invoke(app, ["cases", "catalog", "export", str(path)])
    assert exported.exit_code == 0, exported.output
    assert "Exported 3 groups, 3 categories and 2 routing rules to catalog.yaml" in said(exported)
    document = catalog_file.load_file(path)
    assert document == catalog_file.export_document(db)

    document["categories"][1]["name_en"] = "Loud noise"
    document["routing"].append({"service_code": "NOISE", "area": "TC-W", "department": "WATER"})
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    imported = runner.invoke(app, ["cases", "catalog", "import", str(edited)])
    assert imported.exit_code == 0, imported.output
    assert "1 updated" in said(imported)
    assert "routing rules: 1 set, 2 unchanged" in said(imported)
    db.expire_all()
    assert catalog.get_category(db, service_code="NOISE").name_en == "Loud noise"
    assert len(routing.list_rules(db, service_code="NOISE")) == 1


def test_a_bad_file_exits_1_and_lists_each_problem_with_its_place(
    cli_database: str, db: Session, services: CatalogFixture, tmp_path: Path
) -> None:
    data = copy.deepcopy(CATALOG)
    data["categories"][0]["department"] = "NOPE"
    data["routing"] = [{"service_code": "NOISE", "area": "TC-X", "department": "CMB"}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(app, ["cases", "catalog", "import", str(path)])
    assert result.exit_code == 1
    assert "2 problem(s); nothing was imported" in said(result)
    assert "categories[0] (POTHOLE).department: unknown department code 'NOPE'" in said(result)
    assert "routing[0] (NOISE).area: unknown area code 'TC-X'" in said(result)
    db.expire_all()
    assert catalog.get_category(db, service_code="POTHOLE").default_department_id is not None
    assert routing.list_rules(db, service_code="NOISE") == []


def test_unknown_suffixes_and_broken_yaml_are_refused_clearly(
    cli_database: str, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["cases", "catalog", "export", str(tmp_path / "catalog.csv")])
    assert result.exit_code == 1
    assert "name the file *.yaml, *.yml or *.json" in said(result)
    broken = tmp_path / "broken.yml"
    broken.write_text("groups: [\n", encoding="utf-8")
    result = runner.invoke(app, ["cases", "catalog", "import", str(broken)])
    assert result.exit_code == 1
    assert "broken.yml is not valid YAML" in said(result)
    assert "line 2" in said(result)
