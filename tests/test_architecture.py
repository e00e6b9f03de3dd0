"""The boundaries of docs/architecture.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cityos"
WEB_FRAMEWORKS = ("fastapi", "starlette", "jinja2")
GROUND_FLOOR = {"geo", "auth", "audit", "notify"}
# What each ground-floor domain may import from other domains (see docs/architecture.md).
GROUND_ALLOWED = {"geo": {"audit"}, "auth": {"audit"}, "audit": set(), "notify": {"audit"}}
DOMAINS = {path.name for path in SRC.iterdir() if (path / "__init__.py").exists()} - {
    "web",
    "migrations",
    "demo",
    "locales",
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(SRC.rglob("service.py")), ids=lambda p: p.parent.name)
def test_service_modules_never_import_the_web_framework(path: Path) -> None:
    bad = {name for name in imports_of(path) if name.split(".")[0] in WEB_FRAMEWORKS}
    assert not bad, f"{path.relative_to(SRC)} imports {bad}"


@pytest.mark.parametrize("domain", sorted(GROUND_FLOOR))
def test_ground_floor_domains_import_no_upper_domain(domain: str) -> None:
    for path in (SRC / domain).rglob("*.py"):
        if path.name in {"api.py", "views.py", "cli.py"}:
            continue  # web and CLI adapters may use the shared web/CLI plumbing
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] != "cityos" or len(parts) < 2 or parts[1] not in DOMAINS:
                continue
            other = parts[1]
            assert other == domain or other in GROUND_ALLOWED[domain], (
                f"{path.relative_to(SRC)} imports {name}"
            )


def test_domains_use_each_other_only_through_service_modules() -> None:
    for domain in DOMAINS:
        for path in (SRC / domain).rglob("*.py"):
            for name in imports_of(path):
                parts = name.split(".")
                if parts[0] != "cityos" or len(parts) < 3 or parts[1] not in DOMAINS:
                    continue
                if parts[1] == domain:
                    continue
                # another domain: its service, or its models' enums/classes for typing
                assert parts[2] in {"service", "models"}, f"{path.relative_to(SRC)} imports {name}"
