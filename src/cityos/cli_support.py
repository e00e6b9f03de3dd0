"""What every CLI command shares: the configured database, and printing errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from cityos.config import get_settings
from cityos.db import ensure_schema_current, make_engine, make_session_factory, transaction
from cityos.errors import CityOSError

console = Console()
err_console = Console(stderr=True)


@contextmanager
def open_session() -> Iterator[Session]:
    """A session on the configured database, committed when the block succeeds."""
    engine = make_engine(get_settings().database_url)
    try:
        ensure_schema_current(engine)
        with transaction(make_session_factory(engine)) as db_session:
            yield db_session
    finally:
        engine.dispose()


def fail(error: CityOSError) -> NoReturn:
    """Print a domain error (and its details) in red and exit with status 1."""
    err_console.print(f"[red]Error:[/red] {error.message}", highlight=False)
    details = error.details if isinstance(error.details, list) else []
    for item in details:
        if isinstance(item, dict):
            where = (
                f"feature {item['index']}"
                if "index" in item
                else str(item.get("where") or item.get("field") or item.get("row") or "")
            )
            code = f" ({item['code']})" if item.get("code") else ""
            reason = item.get("reason") or item.get("message") or item
            place = f"{where}{code}: " if where or code else ""
            err_console.print(f"  - {place}{reason}", highlight=False)
        else:
            err_console.print(f"  - {item}", highlight=False)
    raise typer.Exit(code=1)
