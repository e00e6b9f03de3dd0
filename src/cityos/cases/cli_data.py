"""``cityos cases import/export``: historical cases in, cases out without personal data."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the import and export commands to ``cityos cases``."""
