"""``cityos assess``: run an assessment on files, manage frameworks and values, live metrics.

``cityos assess run`` needs no database: the framework is a YAML file or a built-in code,
the values and units come from a CSV/XLSX/XLS file. The other commands work on the
configured database through :mod:`cityos.assessment.service`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityos.assessment import builtin, importers, library, pdf, report, runs, service, workbook
from cityos.assessment.framework import Framework, load_framework
from cityos.assessment.result import PipelineResult
from cityos.audit.service import Actor
from cityos.cli_support import console, fail, open_session
from cityos.errors import CityOSError, InvalidInput

CLI_ACTOR = Actor.system("cli")
TOP = 10  # rows of the summary table

app = typer.Typer(
    help="Assessment: indicator frameworks, values, runs and live metrics.",
    no_args_is_help=True,
)
frameworks_app = typer.Typer(help="Indicator frameworks in the database.", no_args_is_help=True)
values_app = typer.Typer(help="Indicator values in the database.", no_args_is_help=True)
app.add_typer(frameworks_app, name="frameworks")
app.add_typer(values_app, name="values")


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name} is not UTF-8 text: save it as UTF-8.") from None


def framework_from(argument: str) -> Framework:
    """A framework file (YAML or JSON), or the code of a built-in framework."""
    path = Path(argument)
    if path.is_file():
        # Weight sums are checked by the run (so weights.renormalise in --config applies).
        return load_framework(_read_text(path), allow_unbalanced=True)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        raise InvalidInput(f"There is no framework file {argument}.")
    return builtin.builtin_framework(argument)


def config_from(path: Path | None, year: int | None) -> dict[str, Any]:
    """The run-config overrides of a YAML/JSON file, with ``--year`` on top."""
    overrides: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(_read_text(path))
        except yaml.YAMLError as error:
            raise InvalidInput(f"{path.name} is not valid YAML: {error}") from None
        if data is not None and not isinstance(data, dict):
            raise InvalidInput(
                f"{path.name} must hold a mapping of run settings (normalise:, weights:, …)."
            )
        overrides = dict(data or {})
    if year is not None:
        overrides["year"] = year
    return overrides


def _number(value: float, digits: int = 2) -> str:
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


def summary_table(result: PipelineResult, top: int = TOP) -> Table:
    """The best ``top`` units: rank, unit, index score (and the rank interval if any)."""
    code = result.framework.root.code
    scores, ranks = result.scores[code], result.ranks[code]
    uncertainty = result.uncertainty
    table = Table(
        "rank", "unit", "name", "score", title=f"{result.framework.name_en} {result.year}"
    )
    if uncertainty is not None:
        table.add_column("median rank (5–95 %)")
    kept = [i for i in range(len(result.units)) if not math.isnan(ranks[i])]
    kept.sort(key=lambda i: (ranks[i], result.units[i].code))
    position = {
        i: n for n, i in enumerate(j for j in range(len(result.units)) if result.kept_units[j])
    }
    for i in kept[:top]:
        unit = result.units[i]
        row = [_number(ranks[i], 0), unit.code, unit.name_en, _number(scores[i])]
        if uncertainty is not None and i in position:
            at = position[i]
            row.append(
                f"{_number(uncertainty.median_rank[at], 1)} "
                f"({_number(uncertainty.rank_p05[at], 0)}–{_number(uncertainty.rank_p95[at], 0)})"
            )
        elif uncertainty is not None:
            row.append("")
        table.add_row(*row)
    return table


@app.command("run")
def run(
    framework: Annotated[
        str, typer.Argument(help="A framework file (*.yaml, *.json) or a built-in code.")
    ],
    data: Annotated[
        Path,
        typer.Argument(
            help="Values: CSV/XLSX long or wide, or the UN-Habitat CPI sheet.", exists=True
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the HTML report.")],
    config: Annotated[
        Path | None, typer.Option("--config", help="Run settings (YAML).", exists=True)
    ] = None,
    xlsx: Annotated[
        Path | None, typer.Option("--xlsx", help="Also write every table as an Excel workbook.")
    ] = None,
    pdf_out: Annotated[
        Path | None, typer.Option("--pdf", help="Also write the report as PDF (needs Chromium).")
    ] = None,
    year: Annotated[int | None, typer.Option(help="The year to assess (default: latest).")] = None,
    lang: Annotated[str, typer.Option(help="Report language: en or zh-CN.")] = "en",
    title: Annotated[str | None, typer.Option(help="The report's title.")] = None,
) -> None:
    """Assess the units of a data file on a framework and write the report (no database)."""
    try:
        chosen = framework_from(framework)
        overrides = config_from(config, year)
        imported = importers.read_values(data, filename=data.name).keyed_by(chosen)
        for problem in imported.problems[:20]:
            console.print(f"[yellow]Note:[/yellow] {problem}", highlight=False)
        panel = imported.panel([indicator.code for indicator in chosen.indicators()])
        with Progress(
            TextColumn("Uncertainty analysis"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("runs", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = runs.run_on_panel(chosen, panel, overrides, progress=progress)
        html = report.render_report(result, lang=lang, title=title)
        out.write_text(html, "utf-8")
        if xlsx is not None:
            xlsx.write_bytes(workbook.build_workbook(result, lang=lang))
        if pdf_out is not None:
            pdf_out.write_bytes(pdf.render_pdf(html))
    except CityOSError as error:
        fail(error)
    console.print(summary_table(result))
    written = ", ".join(str(path.name) for path in (out, xlsx, pdf_out) if path is not None)
    kept = int(result.kept_units.sum())
    console.print(
        f"Assessed {kept} of {len(result.units)} units on {len(result.indicators)} indicators "
        f"for {result.year}; wrote {written}.",
        highlight=False,
    )
    for warning in result.warnings[:10]:
        console.print(f"[yellow]Warning:[/yellow] {warning}", highlight=False)


# --- frameworks --------------------------------------------------------------------------


@frameworks_app.command("list")
def frameworks_list() -> None:
    """List the stored frameworks (built-ins are stored on first use)."""
    try:
        with open_session() as db:
            table = Table("code", "name (en)", "name (zh)", "version", "built in")
            for row in service.list_frameworks(db):
                builtin_mark = "yes" if row.builtin else ""
                table.add_row(row.code, row.name_en, row.name_zh, row.version, builtin_mark)
    except CityOSError as error:
        fail(error)
    console.print(table)


@frameworks_app.command("export")
def frameworks_export(
    code: Annotated[str, typer.Argument(help="The framework's code.")],
    file: Annotated[
        Path | None, typer.Argument(help="Where to write the YAML (default: print it).")
    ] = None,
) -> None:
    """Export a stored framework as YAML."""
    try:
        with open_session() as db:
            text = service.framework_yaml(service.get_framework_row(db, code=code))
    except CityOSError as error:
        fail(error)
    if file is None:
        console.print(text, highlight=False, markup=False, soft_wrap=True)
        return
    file.write_text(text, "utf-8")
    console.print(f"[green]Exported[/green] {code} to {file.name}.", highlight=False)


@frameworks_app.command("import")
def frameworks_import(
    file: Annotated[Path, typer.Argument(help="A framework file: *.yaml or *.json.", exists=True)],
) -> None:
    """Store a framework from a YAML or JSON file (replacing the one with its code)."""
    try:
        document = library.document_from_text(_read_text(file))
        with open_session() as db:
            row = service.save_framework(db, document=document, actor=CLI_ACTOR)
            code, name = row.code, row.name_en
    except CityOSError as error:
        fail(error)
    console.print(f"[green]Imported[/green] {code} {name} from {file.name}.", highlight=False)


# --- values and live metrics -------------------------------------------------------------


@values_app.command("import")
def values_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="Values: CSV/XLSX long or wide, or the UN-Habitat CPI sheet.", exists=True
        ),
    ],
    framework: Annotated[
        str | None,
        typer.Option(help="Match the file's indicator keys to this stored framework's codes."),
    ] = None,
) -> None:
    """Import indicator values (and their units) from a file, all or nothing."""
    try:
        imported = importers.read_values(file, filename=file.name)
        with open_session() as db:
            keyed_by = service.get_framework(db, code=framework) if framework else None
            result = service.import_values(
                db, imported=imported, framework=keyed_by, actor=CLI_ACTOR
            )
    except CityOSError as error:
        fail(error)
    for problem in result.problems[:20]:
        console.print(f"[yellow]Note:[/yellow] {problem}", highlight=False)
    console.print(
        f"[green]Imported[/green] {result.written} values from {file.name} "
        f"({imported.layout} layout); units: {result.units_created} created, "
        f"{result.units_updated} updated.",
        highlight=False,
    )


@app.command("live")
def live(
    snapshot: Annotated[
        bool, typer.Option("--snapshot", help="Also store today's values (source: live).")
    ] = False,
    days: Annotated[
        int, typer.Option(min=1, max=1100, help="The window: this many days before now.")
    ] = 365,
) -> None:
    """Show the live platform metrics of the city and its districts."""
    try:
        with open_session() as db:
            table_data = service.live_table(db, days=days)
            stored = service.snapshot_live(db, actor=CLI_ACTOR, days=days) if snapshot else None
    except CityOSError as error:
        fail(error)
    units = table_data["units"]
    table = Table("metric", *units, title=f"Live metrics, last {days} days")
    for metric in table_data["metrics"]:
        cells = []
        for unit in units:
            value = table_data["values"][unit][metric["code"]]["value"]
            cells.append("–" if value is None else f"{value:g}")
        table.add_row(f"{metric['name_en']} ({metric['unit']})", *cells)
    console.print(table)
    if stored is not None:
        console.print(f"[green]Stored[/green] {stored.written} live values.", highlight=False)
