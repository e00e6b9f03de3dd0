"""User-interface strings in Simplified Chinese and English.

Catalogs live in ``cityos/locales/<language>.json``; both must hold the same keys (a test
checks it). Code, API and logs stay in English.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from cityos.config import LANGUAGES, Language

LANGUAGE_NAMES: dict[Language, str] = {"zh-CN": "中文", "en": "English"}


@cache
def catalog(language: Language) -> dict[str, str]:
    text = resources.files("cityos").joinpath("locales", f"{language}.json").read_text("utf-8")
    data: dict[str, str] = json.loads(text)
    return data


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
