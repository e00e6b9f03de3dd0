"""``cityos areas``: import areas from GeoJSON, generate grid cells, list the areas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cityos.audit.service import Actor
from cityos.cli_support import console, fail, open_session
from cityos.config import get_settings
from cityos.errors import CityOSError
from cityos.geo import grid as geo_grid
from cityos.geo import importer
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

CLI_ACTOR = Actor.system("cli")

app = typer.Typer(help="The city map: import areas, generate grid cells.", no_args_is_help=True)


@app.command("import")
def import_areas(
    file: Annotated[
        Path, typer.Argument(help="A GeoJSON FeatureCollection (UTF-8, WGS84).", exists=True)
    ],
    level: Annotated[AreaLevel, typer.Option(help="The level of every area in the file.")],
    code_property: Annotated[
        str, typer.Option(help="The feature property that holds each area's code.")
    ],
    name_property: Annotated[
        str, typer.Option(help="The feature property that holds each area's (Chinese) name.")
    ],
    name_en_property: Annotated[
        str | None, typer.Option(help="The feature property that holds the English name.")
    ] = None,
) -> None:
    """Import the areas of one level from a GeoJSON file (all or nothing)."""
    limit = int(get_settings().max_upload_mb * 1024 * 1024)
    try:
        importer.check_size(file.stat().st_size, limit)  # before reading it into memory
        data = file.read_bytes()
        with open_session() as db_session:
            report = importer.import_geojson(
                db_session,
                data=data,
                level=level,
                code_property=code_property,
                name_property=name_property,
                name_en_property=name_en_property,
                max_bytes=limit,
                actor=CLI_ACTOR,
            )
    except CityOSError as error:
        fail(error)
    console.print(
        f"[green]Imported[/green] {report.created:,} new and {report.updated:,} updated "
        f"{level.value} areas from {file.name}."
    )
    for index, code, what in report.repaired:
        console.print(f"  [yellow]repaired[/yellow] feature {index} ({code}): {what}")


@app.command("grid")
def grid(
    within: Annotated[str, typer.Option(help="Code of the area to cover (city or district).")],
    cell_size: Annotated[
        float | None, typer.Option(help="Square cells of this size in metres (50-10000).")
    ] = None,
    h3: Annotated[
        int | None, typer.Option("--h3", help="H3 hexagons of this resolution (5-12).")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the grid cells the area already has.")
    ] = False,
) -> None:
    """Generate grid cells (square or H3) covering an area."""
    kind = f"{cell_size:g} m squares" if cell_size is not None else f"H3 resolution {h3}"
    try:
        with (
            console.status(f"Generating {kind} within {within}…"),
            open_session() as db_session,
        ):
            report = geo_grid.generate_grid(
                db_session,
                within_code=within,
                cell_size_m=cell_size,
                h3_resolution=h3,
                replace=replace,
                actor=CLI_ACTOR,
            )
    except CityOSError as error:
        fail(error)
    console.print(
        f"[green]Generated[/green] {report.created + report.updated:,} {report.kind} grid cells "
        f"within {report.within_code} ({report.created:,} new, {report.updated:,} regenerated, "
        f"{report.deleted:,} removed)."
    )


@app.command("list")
def list_areas(
    level: Annotated[AreaLevel | None, typer.Option(help="Only this level.")] = None,
) -> None:
    """List the areas (code, names, level, parent, size)."""
    try:
        with open_session() as db_session:
            areas = geo_service.list_areas(db_session, level=level)
            parents = {area.id: area.code for area in geo_service.list_areas(db_session)}
            table = Table("code", "name", "name (en)", "level", "parent", "km²")
            for area in areas:
                parent = parents.get(area.parent_id, "") if area.parent_id else ""
                table.add_row(
                    area.code,
                    area.name_zh,
                    area.name_en,
                    area.level,
                    parent,
                    f"{area.area_m2 / 1e6:,.2f}",
                )
    except CityOSError as error:
        fail(error)
    if not areas:
        console.print("No areas yet. Import some with `cityos areas import`.")
        return
    console.print(table)
    console.print(f"{len(areas):,} areas.")
