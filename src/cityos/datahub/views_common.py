"""What every data hub page shares: names in the page's language, labels of the
vocabularies, reading posted forms, and the steward dependency.

The pages follow the user's language (``Page.language``: ``zh-CN`` or ``en``); a Chinese
page shows the Chinese title when there is one and falls back to the English one (and the
other way round), then to the dataset's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from cityos.auth.models import Role, User
from cityos.datahub.models import Dataset, Frequency
from cityos.datahub.vocab import ACCESS_LABELS, FREQUENCY_LABELS, LICENCES, THEMES
from cityos.deps import require_role
from cityos.web.render import Page

Steward = Annotated[User, Depends(require_role(Role.STEWARD, Role.STAFF), scope="function")]


def zh(lang: str) -> bool:
    return lang == "zh-CN"


def pick(lang: str, zh_text: str | None, en_text: str | None, fallback: str = "") -> str:
    """The text in the page's language, else the other one, else ``fallback``."""
    first, second = (zh_text, en_text) if zh(lang) else (en_text, zh_text)
    return (first or "").strip() or (second or "").strip() or fallback


def title_in(dataset: Dataset, lang: str) -> str:
    return pick(lang, dataset.title_zh, dataset.title_en, dataset.name)


def description_in(dataset: Dataset, lang: str) -> str:
    return pick(lang, dataset.description_zh, dataset.description_en)


def department_in(dataset: Dataset, lang: str) -> str:
    department = dataset.department
    return pick(lang, department.name_zh, department.name_en, department.code)


def theme_label(code: str, lang: str) -> str:
    names = THEMES.get(code)
    return pick(lang, names[0], names[1], code) if names else code


def frequency_label(value: str, lang: str) -> str:
    try:
        names = FREQUENCY_LABELS[Frequency(value)]
    except ValueError:
        return value
    return pick(lang, names[0], names[1], value)


def access_label(value: str, lang: str) -> str:
    names = ACCESS_LABELS.get(value)
    return pick(lang, names[0], names[1], value) if names else value


def licence_title(code: str) -> str:
    licence = LICENCES.get(code)
    return licence.title if licence else code


def when(value: datetime | date | str | None) -> str:
    """A moment for a table cell: ``2024-05-01 09:30`` (UTC), a day as ISO, "—" for none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value[:16].replace("T", " ")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def num(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def helpers(lang: str) -> dict[str, Any]:
    """Functions every data hub template uses."""
    return {
        "title_in": lambda dataset: title_in(dataset, lang),
        "description_in": lambda dataset: description_in(dataset, lang),
        "department_in": lambda dataset: department_in(dataset, lang),
        "theme_label": lambda code: theme_label(code, lang),
        "frequency_label": lambda value: frequency_label(value, lang),
        "access_label": lambda value: access_label(value, lang),
        "pick": lambda zh_text, en_text, fallback="": pick(lang, zh_text, en_text, fallback),
        "licence_title": licence_title,
        "when": when,
        "num": num,
    }


def render(
    page: Page, template: str, context: Mapping[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    return page.render(template, {**helpers(page.language), **context}, status_code=status_code)


async def form_fields(request: Request) -> dict[str, str]:
    """The text fields of a posted form (the last value of a repeated name)."""
    form = await request.form()
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


async def form_lists(request: Request) -> dict[str, list[str]]:
    """Every text value of a posted form, by name (for checkbox groups)."""
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


def problem_lines(details: Any) -> list[str]:
    """An error's ``details`` as lines to list under its message."""
    if not isinstance(details, list):
        return []
    lines = []
    for item in details:
        if isinstance(item, Mapping):
            where = item.get("where") or item.get("field") or item.get("row") or ""
            message = item.get("message") or item.get("reason") or ""
            if not message:
                message = ", ".join(f"{k}: {v}" for k, v in item.items())
            lines.append(f"{where}: {message}" if where else str(message))
        else:
            lines.append(str(item))
    return lines
