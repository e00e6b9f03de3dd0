"""``cityos cases``: the service catalog, importing and exporting cases."""

from __future__ import annotations

import typer

from cityos.cases import cli_catalog, cli_data

app = typer.Typer(
    help="Citizen services: the service catalog, importing and exporting cases.",
    no_args_is_help=True,
)
app.add_typer(cli_catalog.app, name="catalog")
cli_data.register(app)
