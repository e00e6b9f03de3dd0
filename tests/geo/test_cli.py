from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from cityos.cli import app
from cityos.geo.models import Area, AreaLevel
from tests.geo.conftest import EAST, MIDDLE, NORTH, SOUTH, WEST, feature, geojson, rectangle

runner = CliRunner()


def count(db: Session, level: AreaLevel) -> int:
    db.expire_all()
    query = select(func.count()).select_from(Area).where(Area.level == level.value)
    return db.scalar(query) or 0


def import_districts(path: Path) -> Result:
    arguments = ["areas", "import", str(path), "--level", "district"]
    return runner.invoke(app, [*arguments, "--code-property", "code", "--name-property", "name"])


def test_areas_import_and_grid_from_the_command_line(
    cli_database: str, db: Session, city_only: None, tmp_path: Path
) -> None:
    path = tmp_path / "districts.geojson"
    path.write_bytes(
        geojson(
            feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), code="W", name="西区"),
            feature(rectangle(MIDDLE, SOUTH, EAST, NORTH), code="E", name="东区"),
        )
    )
    imported = import_districts(path)
    assert imported.exit_code == 0, imported.output
    assert "Imported 2 new" in imported.output
    assert count(db, AreaLevel.DISTRICT) == 2

    grid = runner.invoke(app, ["areas", "grid", "--within", "TC", "--cell-size", "1000"])
    assert grid.exit_code == 0, grid.output
    assert count(db, AreaLevel.GRID) > 50


def test_areas_import_lists_every_problem_and_exits_1(
    cli_database: str, db: Session, city_only: None, tmp_path: Path
) -> None:
    path = tmp_path / "broken.geojson"
    path.write_bytes(
        geojson(
            feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), code="W", name="西区"),
            feature({"type": "Point", "coordinates": [WEST, SOUTH]}, code="P", name="点"),
        )
    )
    result = import_districts(path)
    assert result.exit_code == 1
    assert "nothing was imported" in result.output
    assert "feature 1 (P)" in result.output
    assert count(db, AreaLevel.DISTRICT) == 0
