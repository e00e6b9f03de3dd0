"""The frameworks shipped with CityOS (package data under ``assessment/frameworks/``).

Each is a framework document like any a user writes (docs/assessment-frameworks.md), read
once per process: GB/T 33356-2016 structure, ISO 37120:2014 core indicators, the UN-Habitat
City Prosperity Index as in its 2016 base-data sheet, and CityOS Live.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from cityos.assessment.framework import Framework, load_framework
from cityos.errors import NotFound

FOLDER = "frameworks"
GBT33356 = "gbt33356-2016"
ISO37120 = "iso37120"
UN_HABITAT_CPI = "un-habitat-cpi"
CITYOS_LIVE = "cityos-live"


def builtin_frameworks() -> dict[str, Framework]:
    """Code → framework, for every built-in framework (in file-name order). The files are
    read once per process; each call returns a new dict of the same frameworks."""
    return dict(_load())


@cache
def _load() -> tuple[tuple[str, Framework], ...]:
    folder = resources.files("cityos.assessment").joinpath(FOLDER)
    out: list[tuple[str, Framework]] = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yaml"):
            framework = load_framework(entry.read_text("utf-8"))
            out.append((framework.code, framework))
    return tuple(out)


def builtin_framework(code: str) -> Framework:
    """One built-in framework; NotFound lists the codes there are."""
    frameworks = builtin_frameworks()
    if code not in frameworks:
        raise NotFound(
            f"There is no built-in framework {code!r}; built in: {', '.join(frameworks)}."
        )
    return frameworks[code]
