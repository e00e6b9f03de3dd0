"""User-interface strings in Simplified Chinese and English.

Catalogs live in ``cityos/locales/``: ``<language>.json`` for the shell and
``<part>.<language>.json`` for each part of the UI (e.g. ``cases.en.json``). A key may be
defined in one file only, and both languages must hold the same keys (tests check both).
Code, API and logs stay in English.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from cityos.config import LANGUAGES, Language

LANGUAGE_NAMES: dict[Language, str] = {"zh-CN": "中文", "en": "English"}


def catalog_files(language: Language) -> list[str]:
    """The names of the catalog files of ``language``, the shell's first."""
    names = sorted(
        entry.name
        for entry in resources.files("cityos").joinpath("locales").iterdir()
        if entry.name == f"{language}.json" or entry.name.endswith(f".{language}.json")
    )
    return sorted(names, key=lambda name: name != f"{language}.json")


@cache
def catalog(language: Language) -> dict[str, str]:
    """Every string of ``language``; a key defined in two files is an error."""
    merged: dict[str, str] = {}
    folder = resources.files("cityos").joinpath("locales")
    for name in catalog_files(language):
        part: dict[str, str] = json.loads(folder.joinpath(name).read_text("utf-8"))
        twice = sorted(set(part) & set(merged))
        if twice:
            raise ValueError(f"locales/{name} defines keys already defined elsewhere: {twice}")
        merged.update(part)
    return merged


def translate(language: Language, key: str, **values: object) -> str:
    """The string for ``key`` in ``language`` (falling back to English, then the key)."""
    text = catalog(language).get(key) or catalog("en").get(key) or key
    return text.format(**values) if values else text


def parse_language(value: str | None) -> Language | None:
    """``value`` if it names a supported language (``zh``, ``zh-cn``, ``en-GB`` …), else None."""
    if not value:
        return None
    value = value.strip().lower()
    if value.startswith("zh"):
        return "zh-CN"
    if value.startswith("en"):
        return "en"
    return None


def negotiate(accept_language: str | None) -> Language | None:
    """The best supported language in an ``Accept-Language`` header, if any."""
    if not accept_language:
        return None
    ranked: list[tuple[float, int, Language]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = parse_language(tag)
        if language is not None and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


__all__ = ["LANGUAGES", "LANGUAGE_NAMES", "Language", "catalog", "negotiate", "translate"]
