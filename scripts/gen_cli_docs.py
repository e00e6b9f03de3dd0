"""Write docs/cli.md from the CLI itself, so the reference stays true.

Run: .venv/bin/python scripts/gen_cli_docs.py
"""

from __future__ import annotations

from pathlib import Path

from typing import Any

import typer.main

from cityos.cli import app

OUT = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def describe(param: Any) -> str:
    if param.param_type_name == "argument":
        return f"| `{(param.metavar or param.name or '').upper()}` | argument: {getattr(param, 'help', '') or ''} | |"
    names = " / ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
    default = "" if param.default in (None, False, ()) or param.required else f"`{param.default}`"
    required = "required" if param.required else default
    return f"| {names} | {param.help or ''} | {required} |"


def sections() -> list[str]:
    root = typer.main.get_command(app)
    lines: list[str] = []

    def walk(command: Any, path: str) -> None:
        if hasattr(command, "commands"):
            if path != "cityos":
                lines.extend([f"## `{path}`", "", (command.help or "").strip(), ""])
            for name in sorted(command.commands):
                walk(command.commands[name], f"{path} {name}")
            return
        lines.extend([f"### `{path}`", "", (command.help or "").strip(), ""])
        params = [p for p in command.params if p.name != "help"]
        if params:
            lines.extend(["| option | what | default |", "|---|---|---|"])
            lines.extend(describe(p) for p in params)
            lines.append("")

    walk(root, "cityos")
    return lines


def main() -> None:
    header = [
        "# Command line: `cityos`",
        "",
        "Generated from the commands themselves by `scripts/gen_cli_docs.py`; a test fails",
        "when a command is missing here. Every command reads its settings from `CITYOS_*`",
        "environment variables or `cityos.toml` (see configuration.md). `python -m cityos`",
        "works the same as `cityos`.",
        "",
    ]
    OUT.write_text("\n".join([*header, *sections()]).rstrip() + "\n", "utf-8")


if __name__ == "__main__":
    main()
