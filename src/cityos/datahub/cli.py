"""``cityos data``: list datasets, load and validate files, infer schemas, export, elements."""

from __future__ import annotations

import json
from contextlib import nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityos.audit.service import Actor
from cityos.cli_support import console, err_console, fail, open_session
from cityos.datahub import elements, export, ingest, quality, query, sample, service
from cityos.datahub.access import ReadAccess
from cityos.datahub.models import LoadMode, LoadStatus, OnError
from cityos.db import utcnow
from cityos.errors import CityOSError, InvalidInput, Unprocessable
from cityos.geo import service as geo_service

CLI_ACTOR = Actor.system("cli")
SHOWN_ERRORS = 20
SHOWN_EXAMPLES = 3

app = typer.Typer(
    help="Data hub: datasets, loading and validating files, schemas, exports, data elements.",
    no_args_is_help=True,
)


class Mode(StrEnum):
    APPEND = LoadMode.APPEND.value
    REPLACE = LoadMode.REPLACE.value
    UPSERT = LoadMode.UPSERT.value


class OnErrorChoice(StrEnum):
    REJECT = OnError.REJECT.value
    QUARANTINE = OnError.QUARANTINE.value


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"
    NDJSON = "ndjson"
    GEOJSON = "geojson"
    PARQUET = "parquet"
    XLSX = "xlsx"


EncodingOption = Annotated[
    str | None, typer.Option(help="Text encoding (utf-8, gbk, gb18030…); default: detected.")
]
DelimiterOption = Annotated[
    str | None, typer.Option(help="Column separator of CSV text; default: detected.")
]
HeaderOption = Annotated[
    bool | None,
    typer.Option("--header/--no-header", help="Whether the first row names the columns."),
]
SheetOption = Annotated[str | None, typer.Option(help="XLSX: the sheet to read.")]
FileArgument = Annotated[
    Path,
    typer.Argument(
        help="CSV, TSV, XLSX, JSON, NDJSON, GeoJSON or Parquet.", exists=True, dir_okay=False
    ),
]


def show_report(report: dict[str, Any]) -> None:
    """The summary line and the error groups (with a few examples each) of a report."""
    summary = report.get("summary") or ""
    if summary:
        err_console.print(summary, highlight=False)
    groups = [g for g in report.get("errors", []) if isinstance(g, dict)]
    for group in groups[:SHOWN_ERRORS]:
        where = f" in {group['field']!r}" if group.get("field") else ""
        err_console.print(
            f"  - {group.get('count', 0):,} × {group.get('type')}{where}: {group.get('message')}",
            highlight=False,
        )
        for example in (group.get("examples") or [])[:SHOWN_EXAMPLES]:
            value = example.get("value")
            shown = f" {value!r}" if value not in (None, "") else ""
            err_console.print(f"      row {example.get('row')}{shown}", highlight=False)
    if len(groups) > SHOWN_ERRORS:
        err_console.print(f"  … and {len(groups) - SHOWN_ERRORS} more kinds", highlight=False)
    for warning in report.get("warnings", []) or []:
        err_console.print(f"  warning: {warning}", highlight=False)


def _options(
    mode: Mode,
    on_error: OnErrorChoice,
    encoding: str | None,
    delimiter: str | None,
    header: bool | None,
    sheet: str | None,
) -> ingest.LoadOptions:
    return ingest.LoadOptions(
        mode=LoadMode(mode.value),
        on_error=OnError(on_error.value),
        encoding=encoding,
        delimiter=delimiter,
        header=header,
        sheet=sheet,
    )


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@app.command("load")
def load_command(
    dataset: Annotated[str, typer.Argument(help="The dataset's name.")],
    file: FileArgument,
    mode: Annotated[Mode, typer.Option(help="append, replace or upsert (needs a key).")] = (
        Mode.APPEND
    ),
    on_error: Annotated[
        OnErrorChoice,
        typer.Option(help="reject: any error rejects the file; quarantine: keep the bad rows."),
    ] = OnErrorChoice.REJECT,
    encoding: EncodingOption = None,
    delimiter: DelimiterOption = None,
    header: HeaderOption = None,
    sheet: SheetOption = None,
) -> None:
    """Validate FILE against the dataset's schema and store it (all or nothing)."""
    progress = _progress()
    task = progress.add_task(f"Loading {file.name}", total=None)

    def advance(rows: int) -> None:
        progress.update(task, completed=rows)

    try:
        with progress, open_session() as db_session:
            found = service.get_dataset(db_session, name=dataset)
            schema = service.current_schema(db_session, dataset=found)
            if schema is None or found.schema_version is None:
                raise Unprocessable(
                    f"{dataset} has no schema yet: set one first (`cityos data infer {file.name}` "
                    "suggests one; PUT /api/data/{name}/schema stores it)."
                )
            load = ingest.load_file(
                db_session,
                dataset=found,
                schema=schema,
                version=found.schema_version,
                path=file,
                filename=file.name,
                options=_options(mode, on_error, encoding, delimiter, header, sheet),
                actor=CLI_ACTOR,
                area_codes=geo_service.area_codes(db_session),
                progress=advance,
            )
            status, report = load.status, dict(load.report or {})
            loaded, rejected, load_id = load.rows_loaded, load.rows_rejected, load.id
    except CityOSError as error:
        fail(error)
    if status == LoadStatus.REJECTED.value:
        err_console.print(
            f"[red]Rejected[/red] {file.name}: nothing stored (load {load_id}).", highlight=False
        )
        show_report(report)
        raise typer.Exit(code=1)
    console.print(
        f"[green]Loaded[/green] {loaded:,} rows from {file.name} into {dataset} "
        f"(load {load_id}, {status}).",
        highlight=False,
    )
    if rejected:
        console.print(
            f"{rejected:,} rows quarantined: GET /api/data/{dataset}/loads/{load_id}/quarantine",
            highlight=False,
        )
        show_report(report)
    elif report.get("summary"):
        console.print(report["summary"], highlight=False)


@app.command("validate")
def validate_command(
    dataset: Annotated[str, typer.Argument(help="The dataset's name.")],
    file: FileArgument,
    encoding: EncodingOption = None,
    delimiter: DelimiterOption = None,
    header: HeaderOption = None,
    sheet: SheetOption = None,
) -> None:
    """Check FILE against the dataset's schema without storing anything."""
    progress = _progress()
    task = progress.add_task(f"Checking {file.name}", total=None)
    try:
        with progress, open_session() as db_session:
            found = service.get_dataset(db_session, name=dataset)
            schema = service.current_schema(db_session, dataset=found)
            if schema is None:
                raise Unprocessable(f"{dataset} has no schema yet: set one first.")
            report = ingest.validate_file(
                db_session,
                dataset=found,
                schema=schema,
                version=found.schema_version or 1,
                path=file,
                filename=file.name,
                options=_options(
                    Mode.APPEND, OnErrorChoice.REJECT, encoding, delimiter, header, sheet
                ),
                area_codes=geo_service.area_codes(db_session),
                progress=lambda rows: progress.update(task, completed=rows),
            )
    except CityOSError as error:
        fail(error)
    body = report.to_dict()
    if not report.ok:
        err_console.print(f"[red]Invalid[/red] {file.name}:", highlight=False)
        show_report(body)
        raise typer.Exit(code=1)
    console.print(f"[green]Valid[/green] {file.name}: {body['summary']}", highlight=False)


@app.command("infer")
def infer_command(
    file: FileArgument,
    output: Annotated[
        Path | None, typer.Option(help="Write the suggested schema (JSON) here.")
    ] = None,
    encoding: EncodingOption = None,
    delimiter: DelimiterOption = None,
    header: HeaderOption = None,
    sheet: SheetOption = None,
) -> None:
    """Suggest a Table Schema (types, likely data elements) from FILE's first rows."""
    try:
        with open_session() as db_session:
            found = sample.infer_file(
                db_session,
                path=file,
                filename=file.name,
                encoding=encoding,
                delimiter=delimiter,
                header=header,
                sheet=sheet,
            )
    except CityOSError as error:
        fail(error)
    text = json.dumps(found["descriptor"], ensure_ascii=False, indent=2)
    for note in found["notes"]:
        err_console.print(f"note: {note}", highlight=False)
    if output is None:
        console.print_json(text)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as error:
        fail(InvalidInput(f"Cannot write {output}: {error.strerror}."))
    console.print(f"Wrote the suggested schema of {file.name} to {output}.", highlight=False)


@app.command("list")
def list_command() -> None:
    """List the datasets: department, access, rows, schema version, freshness."""
    now = utcnow()
    table = Table("name", "title", "department", "access", "rows", "schema", "updated", "fresh")
    try:
        with open_session() as db_session:
            for found in service.list_datasets(db_session):
                state, _days = quality.freshness(found, now=now)
                table.add_row(
                    found.name,
                    found.title_en or found.title_zh,
                    found.department.code,
                    found.access,
                    f"{found.row_count:,}",
                    f"v{found.schema_version}" if found.schema_version else "-",
                    f"{found.data_updated_at:%Y-%m-%d}" if found.data_updated_at else "-",
                    state,
                )
    except CityOSError as error:
        fail(error)
    console.print(table)


@app.command("export")
def export_command(
    dataset: Annotated[str, typer.Argument(help="The dataset's name.")],
    output: Annotated[Path, typer.Argument(help="Where to write (overwritten).")],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            help="csv, json, ndjson, geojson, parquet or xlsx (default: from the file's suffix).",
        ),
    ] = None,
    bom: Annotated[bool, typer.Option(help="CSV: start with a BOM (for Excel).")] = False,
) -> None:
    """Export every row of a dataset (all fields: the command runs as the operator)."""
    kind = fmt.value if fmt else output.suffix.lstrip(".").lower()
    if kind not in {f.value for f in ExportFormat}:
        fail(
            InvalidInput(
                f"Cannot tell the format from {output.name!r}: give --format "
                f"({', '.join(f.value for f in ExportFormat)})."
            )
        )
    try:
        with open_session() as db_session:
            found = service.get_dataset(db_session, name=dataset)
            schema = service.current_schema(db_session, dataset=found)
            if schema is None or found.schema_version is None:
                raise Unprocessable(f"{dataset} has no schema and no rows yet.")
            names = frozenset(schema.names)
            everything = ReadAccess(True, "cli", True, names, frozenset(), frozenset())
            try:
                with output.open("wb") as out:
                    for chunk in export.stream(
                        lambda: nullcontext(db_session.connection()),
                        dataset=found,
                        schema=schema,
                        version=found.schema_version,
                        query=query.parse_row_query(schema, [], max_limit=None, default_limit=None),
                        access=everything,
                        fmt=kind,
                        bom=bom,
                    ):
                        out.write(chunk)
            except OSError as error:
                raise InvalidInput(f"Cannot write {output}: {error.strerror}.") from None
            rows = found.row_count
    except CityOSError as error:
        fail(error)
    console.print(
        f"[green]Exported[/green] {rows:,} rows of {dataset} to {output.name} ({kind}).",
        highlight=False,
    )


@app.command("elements")
def elements_command(
    seed: Annotated[
        bool, typer.Option("--seed", help="First store the built-in elements that are missing.")
    ] = False,
) -> None:
    """List the data elements (the city's field standard)."""
    table = Table("code", "name (zh)", "name (en)", "type", "constraints", "sensitivity")
    try:
        with open_session() as db_session:
            added = elements.seed_builtin(db_session, actor=CLI_ACTOR) if seed else 0
            for element in elements.list_elements(db_session):
                table.add_row(
                    element.code,
                    element.name_zh,
                    element.name_en,
                    element.type,
                    json.dumps(element.constraints or {}, ensure_ascii=False),
                    element.sensitivity + (f" ({element.mask})" if element.mask else ""),
                )
    except CityOSError as error:
        fail(error)
    if seed:
        console.print(f"Stored {added} built-in data element(s).")
    console.print(table)
