from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cityos.app import create_app
from cityos.auth import service as auth_service
from cityos.cli import app
from cityos.config import Settings, get_settings
from cityos.db import make_engine
from cityos.errors import SchemaOutOfDate

DOCS = Path(__file__).resolve().parents[1] / "docs"
runner = CliRunner()


def command_paths() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []

    def walk(command: Any, path: str) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")
        else:
            found.append((path, command))

    walk(root, "cityos")
    return found


def test_every_command_is_documented_with_its_help() -> None:
    text = (DOCS / "cli.md").read_text("utf-8")
    for path, command in command_paths():
        assert f"`{path}`" in text, f"{path} is not in docs/cli.md"
        summary = (command.help or "").strip().splitlines()[0]
        assert summary in text, f"the help of {path} is not in docs/cli.md"


def test_user_create_and_apikey_create_work_from_the_command_line(
    cli_database: str, db: Session
) -> None:
    result = runner.invoke(
        app,
        ["department", "create", "--code", "WATER", "--name-zh", "水务局", "--name-en", "Water"],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "user",
            "create",
            "--email",
            "Ops@Example.org",
            "--password",
            "long enough",
            "--role",
            "staff",
            "--role",
            "operator",
            "--department",
            "WATER",
        ],
    )
    assert result.exit_code == 0, result.output
    user = auth_service.get_user_by_email(db, email="ops@example.org")
    assert sorted(user.roles) == ["operator", "staff"]

    result = runner.invoke(app, ["apikey", "create", "--email", "ops@example.org"])
    assert result.exit_code == 0, result.output
    key = re.search(r"cos_\S+", result.output)
    assert key is not None
    assert auth_service.user_for_api_key(db, raw_key=key.group(0)).email == "ops@example.org"


def test_cli_errors_are_clear_and_exit_with_status_1(cli_database: str) -> None:
    result = runner.invoke(
        app,
        [
            "user",
            "create",
            "--email",
            "x@example.org",
            "--password",
            "long enough",
            "--role",
            "mayor",
        ],
    )
    assert result.exit_code == 1
    assert "Unknown role 'mayor'" in result.output
    result = runner.invoke(app, ["apikey", "create", "--email", "nobody@example.org"])
    assert result.exit_code == 1
    assert "No user has the email" in result.output


def test_db_upgrade_migrates_a_fresh_database_and_serve_refuses_an_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("CITYOS_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        engine = make_engine(url)
        with pytest.raises(SchemaOutOfDate, match="cityos db upgrade"):
            create_app(Settings(database_url=url), engine=engine)
        refused = runner.invoke(app, ["serve", "--port", "0"])
        assert refused.exit_code == 1
        assert "Run `cityos db upgrade` first" in refused.output
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert "Migrated the schema from empty" in result.output
        current = runner.invoke(app, ["db", "current"])
        assert "up to date" in current.output
        create_app(Settings(database_url=url, secret_key="x"), engine=engine)
        engine.dispose()
    finally:
        get_settings.cache_clear()


def test_python_dash_m_cityos_runs_the_cli() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "cityos", "version"], capture_output=True, text=True, check=True
    )
    assert re.match(r"\d+\.\d+\.\d+", result.stdout.strip())
