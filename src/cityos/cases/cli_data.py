"""``cityos cases import/export``: historical cases in, cases out without personal data."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cityos.audit.service import Actor
from cityos.cases import exporter, importer
from cityos.cases.import_mapping import load_mapping
from cityos.cases.queries import CaseFilter
from cityos.cli_support import console, err_console, fail, open_session
from cityos.config import get_settings
from cityos.db import utcnow
from cityos.errors import CityOSError, InvalidInput

CLI_ACTOR = Actor.system("cli")
SHOWN_PROBLEMS = 20
STAGES = {
    "reading": "Reading the file",
    "checking": "Checking the rows",
    "routing": "Routing and SLA clocks",
    "writing": "Writing cases",
}


class ExportFormat(StrEnum):
    CSV = "csv"
    GEOJSON = "geojson"


def _show_problems(report: importer.ImportReport) -> None:
    shown = report.problems.head(SHOWN_PROBLEMS)
    for item in shown.iter_rows(named=True):
        value = f" ({item['value']!r})" if item["value"] not in (None, "") else ""
        err_console.print(
            f"  - row {item['row']}, {item['column']}{value}: {item['reason']}", highlight=False
        )
    more = report.problems.height - shown.height
    if more > 0:
        err_console.print(f"  … and {more:,} more problems", highlight=False)


def _write_rejects(report: importer.ImportReport, path: Path) -> None:
    try:
        importer.write_problems(report, path)
    except OSError as error:
        fail(InvalidInput(f"Cannot write the rejected-rows report {path}: {error.strerror}."))
    err_console.print(
        f"Rejected-rows report ({report.problems.height:,} problems): {path}", highlight=False
    )


def import_command(
    file: Annotated[
        Path, typer.Argument(help="The cases: *.csv, *.tsv or *.xlsx (UTF-8 text).", exists=True)
    ],
    mapping: Annotated[
        Path, typer.Option("--mapping", help="The column mapping (YAML).", exists=True)
    ],
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Import the good rows and report the rejected ones."),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Write the rejected-rows report (CSV: row, column, value, reason) here.",
        ),
    ] = None,
) -> None:
    """Import historical cases from CSV, TSV or XLSX with a column mapping (all or nothing)."""
    settings = get_settings()
    try:
        parsed = load_mapping(mapping)
    except CityOSError as error:
        if isinstance(error.details, list):
            error.details = [
                f"{item['where']}: {item['message']}" if isinstance(item, dict) else item
                for item in error.details
            ]
        fail(error)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(STAGES["reading"], total=None)

    def report_progress(stage: str, done: int, total: int) -> None:
        progress.update(task, description=STAGES.get(stage, stage), completed=done, total=total)

    try:
        with progress, open_session() as db_session:
            report = importer.import_file(
                db_session,
                file,
                parsed,
                actor=CLI_ACTOR,
                skip_invalid=skip_invalid,
                timezone=settings.timezone,
                sla_fraction=settings.sla_imminent_fraction,
                progress=report_progress,
            )
    except importer.ImportRejected as error:
        err_console.print(f"[red]Error:[/red] {error.message}", highlight=False)
        _show_problems(error.report)
        if rejects is not None:
            _write_rejects(error.report, rejects)
        raise typer.Exit(code=1) from None
    except CityOSError as error:
        if isinstance(error.details, list):
            error.details = [
                f"{item['where']}: {item['message']}"
                if isinstance(item, dict) and "where" in item
                else item
                for item in error.details
            ]
        fail(error)
    rate = report.imported / report.seconds if report.seconds > 0 else 0.0
    console.print(
        f"[green]Imported[/green] {report.imported:,} of {report.rows:,} rows from {file.name} "
        f"in {report.seconds:.1f} s ({rate:,.0f} cases/s); {report.skipped:,} already "
        f"imported, {report.rejected:,} rejected.",
        highlight=False,
    )
    if report.problems.height:
        _show_problems(report)
        _write_rejects(report, rejects or Path(f"{file.stem}-rejects.csv"))


def export_command(
    file: Annotated[Path, typer.Argument(help="Where to write (overwritten): *.csv or *.geojson.")],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option("--format", help="csv or geojson (default: from the file's suffix)."),
    ] = None,
    service: Annotated[
        list[str] | None, typer.Option("--service", help="Only this service code (repeatable).")
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Only this status (repeatable).")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", help="Opened at or after this date or date-time (ISO 8601)."),
    ] = None,
    stop: Annotated[
        str | None,
        typer.Option("--to", help="Opened at or before this date or date-time (ISO 8601)."),
    ] = None,
    area: Annotated[
        str | None, typer.Option("--area", help="Only cases inside this area (code).")
    ] = None,
) -> None:
    """Export cases as CSV or GeoJSON, without personal data."""
    settings = get_settings()
    now = utcnow()
    try:
        kind = exporter.format_for(file.name, fmt.value if fmt else None)
        selected = CaseFilter(
            service_codes=service or None,
            statuses=status or None,
            requested_from=exporter.parse_moment(start, name="--from", timezone=settings.timezone),
            requested_to=exporter.parse_moment(
                stop, name="--to", timezone=settings.timezone, end=True
            ),
            area_code=area,
        )
        with open_session() as db_session:
            exporter.check_filter(db_session, selected, now=now)
            total = exporter.count(db_session, selected, now=now)
            try:
                with file.open("w", encoding="utf-8", newline="") as out:
                    for chunk in exporter.stream(db_session, selected, fmt=kind, now=now):
                        out.write(chunk)
            except OSError as error:
                raise InvalidInput(f"Cannot write {file}: {error.strerror}.") from None
    except CityOSError as error:
        fail(error)
    console.print(
        f"[green]Exported[/green] {total:,} cases to {file.name} ({kind}, no personal data).",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add the import and export commands to ``cityos cases``."""
    app.command("import")(import_command)
    app.command("export")(export_command)
