"""``cityos cases catalog``: import and export the service catalog as YAML or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from cityos.audit.service import Actor
from cityos.cases import catalog_file
from cityos.cli_support import console, fail, open_session
from cityos.errors import CityOSError

CLI_ACTOR = Actor.system("cli")

app = typer.Typer(help="The service catalog as a YAML or JSON file.", no_args_is_help=True)


def _fail(error: CityOSError) -> NoReturn:
    """Print the error with every problem's place in the file, then exit with status 1."""
    if isinstance(error.details, list):
        error.details = [
            f"{item['where']}: {item['message']}"
            if isinstance(item, dict) and "where" in item
            else item
            for item in error.details
        ]
    fail(error)


@app.command("import")
def import_catalog(
    file: Annotated[
        Path, typer.Argument(help="A catalog file: *.yaml, *.yml or *.json (UTF-8).", exists=True)
    ],
    replace_rules: Annotated[
        bool,
        typer.Option("--replace-rules", help="Also delete routing rules the file does not list."),
    ] = False,
) -> None:
    """Import groups, categories and routing rules from a YAML or JSON file (all or nothing)."""
    try:
        data = catalog_file.load_file(file)
        with open_session() as db_session:
            report = catalog_file.import_document(
                db_session, data, actor=CLI_ACTOR, replace_rules=replace_rules
            )
    except CityOSError as error:
        _fail(error)
    console.print(f"[green]Imported[/green] {file.name}: {report.describe()}.", highlight=False)


@app.command("export")
def export_catalog(
    file: Annotated[
        Path, typer.Argument(help="Where to write: *.yaml, *.yml or *.json (overwritten).")
    ],
) -> None:
    """Export the whole catalog (with routing rules) to a YAML or JSON file."""
    try:
        catalog_file.format_for(file.name)  # before touching the database
        with open_session() as db_session:
            document = catalog_file.export_document(db_session)
        catalog_file.dump_file(document, file)
    except CityOSError as error:
        _fail(error)
    console.print(
        f"[green]Exported[/green] {len(document['groups'])} groups, "
        f"{len(document['categories'])} categories and {len(document['routing'])} routing rules "
        f"to {file.name}.",
        highlight=False,
    )
