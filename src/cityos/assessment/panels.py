"""What a run is computed on: the set of units and the panel of their values.

A unit set is one of
- ``"areas:district"`` (or another map level): the city's areas as units, created or
  refreshed from the map (names, ``area_km2``);
- ``"peers:<group>"``: the home city and the members of a peer group;
- a list of unit codes (or one string of codes separated by commas).

The panel gathers, for the framework's indicators, the stored values (entered, imported and
dataset indicators — the data hub is not wired yet, so dataset indicators use stored values
too) and, for live indicators, the stored snapshots of their metric (earlier years) and the
metric's live value now (the current year).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.assessment.framework import Framework, SourceKind
from cityos.assessment.live import live_values
from cityos.assessment.models import AssessUnit, UnitKind
from cityos.assessment.panel import Panel
from cityos.assessment.units import (
    area_attributes,
    draft_home_unit,
    ensure_home_unit,
    get_peer_group,
    get_units,
    map_areas,
    panel_unit,
    refresh_area_units,
)
from cityos.assessment.values import values_for
from cityos.audit.service import Actor
from cityos.db import utcnow
from cityos.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class UnitSet:
    units: list[AssessUnit]
    description: str  # "areas:district", "peers:leading", or the codes
    home: str | None = None  # the home city's code in a peer set


def resolve_unit_set(
    db_session: Session, *, unit_set: str | Sequence[str], actor: Actor | None
) -> UnitSet:
    """The units of a unit set. With ``actor`` None nothing is written: map areas that are
    not units yet are given as unsaved units, and a peer set needs a stored home city."""
    if isinstance(unit_set, str):
        text = unit_set.strip()
        if text.startswith("areas:"):
            return _area_units(db_session, text[len("areas:") :].strip() or "district", actor)
        if text.startswith("peers:"):
            return _peer_units(db_session, text[len("peers:") :].strip(), actor)
        codes = [code.strip() for code in text.split(",") if code.strip()]
    else:
        codes = [str(code).strip() for code in unit_set if str(code).strip()]
    if not codes:
        raise InvalidInput(
            "Name the units to assess: 'areas:district', 'peers:<group code>' or a list of "
            "unit codes."
        )
    units = get_units(db_session, codes=codes)
    return UnitSet(units=units, description=", ".join(u.code for u in units)[:300])


def _area_units(db_session: Session, level: str, actor: Actor | None) -> UnitSet:
    if actor is not None:
        units = refresh_area_units(db_session, level=level, actor=actor)
        return UnitSet(units=units, description=f"areas:{level}")
    area_level, areas = map_areas(db_session, level=level)
    stored = {
        u.code: u
        for u in db_session.scalars(
            select(AssessUnit).where(AssessUnit.code.in_([a.code for a in areas]))
        )
    }
    units = [
        stored.get(area.code)
        or AssessUnit(
            code=area.code,
            name_en=area.name_en,
            name_zh=area.name_zh,
            kind=UnitKind.AREA,
            region=area_level.value,
            attributes=area_attributes(area),
            is_home=False,
        )
        for area in areas
    ]
    return UnitSet(units=units, description=f"areas:{area_level.value}")


def _peer_units(db_session: Session, code: str, actor: Actor | None) -> UnitSet:
    group = get_peer_group(db_session, code=code)
    home = ensure_home_unit(db_session, actor=actor) if actor else draft_home_unit(db_session)
    members = [member for member in group.members if member != home.code]
    units = [home, *get_units(db_session, codes=members)]
    return UnitSet(units=units, description=f"peers:{group.code}", home=home.code)


# --- the panel ---------------------------------------------------------------------------


def build_panel(
    db_session: Session,
    *,
    framework: Framework,
    units: Sequence[AssessUnit],
    years: Iterable[int] | None = None,
    now: datetime | None = None,
    gaps: list[str] | None = None,
) -> Panel:
    """The units × indicators × years values of ``framework`` (NaN where missing).

    For a live indicator, a stored value under the indicator's own code wins over a stored
    snapshot of its metric; the live value now fills the current year where no value
    is stored for it (a stored value of the current year wins). Why a live metric
    has no value now (e.g. "module not installed") is appended to ``gaps`` when given."""
    now = now or utcnow()
    wanted_years = None if years is None else sorted(set(years))
    indicators = framework.indicators()
    codes = [indicator.code for indicator in indicators]
    unit_codes = [unit.code for unit in units]
    live = {
        indicator.code: indicator.source.metric
        for indicator in indicators
        if indicator.source.kind is SourceKind.LIVE and indicator.source.metric
    }
    by_metric: dict[str, list[str]] = {}
    for code, metric in live.items():
        by_metric.setdefault(str(metric), []).append(code)
    stored = values_for(
        db_session,
        unit_codes=unit_codes,
        indicator_codes=[*codes, *by_metric],
        years=wanted_years,
    )
    own = set(codes)
    records: list[tuple[str, int, str, float | None]] = []
    for unit, year, code, value in stored:  # metric snapshots first: own values win
        if code not in own:
            records.extend((unit, year, target, value) for target in by_metric.get(code, []))
    records.extend(row for row in stored if row[2] in own)
    entered_now = {
        (unit, code)
        for unit, year, code, value in stored
        if code in own and year == now.year and value is not None
    }
    if live and (wanted_years is None or now.year in wanted_years):
        measured = live_values(db_session, unit_codes, now=now, strict=False)
        missing: dict[tuple[str, str], list[str]] = {}
        for (unit, metric), measure in measured.items():
            if measure.value is None:
                missing.setdefault((metric, measure.reason or "no value"), []).append(unit)
                continue
            records.extend(  # fills only: a value stored for the current year wins
                (unit, now.year, code, measure.value)
                for code in by_metric.get(metric, [])
                if (unit, code) not in entered_now
            )
        if gaps is not None:
            for (metric, reason), where in sorted(missing.items()):
                indicators_of = ", ".join(by_metric.get(metric, []))
                units_text = "every unit" if len(where) == len(unit_codes) else ", ".join(where)
                gaps.append(
                    f"{indicators_of} ({metric}) has no live value for {units_text}: {reason}"
                )
    return Panel.from_records([panel_unit(unit) for unit in units], codes, records)


# --- coverage ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which indicator has a value for which unit: the data coverage matrix.

    ``cells[i][j]`` is the year of the value of indicator i for unit j (the latest year at
    or before ``year``; any year when ``year`` is None), or None. A cell counts as covered
    when it has a value of ``year`` itself (of any year when ``year`` is None)."""

    framework: str
    year: int | None
    indicators: list[dict[str, Any]]  # code, name_en, name_zh, source, covered, pct
    units: list[dict[str, Any]]  # code, name_en, name_zh, covered, pct
    cells: list[list[int | None]]
    pct: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "year": self.year,
            "indicators": self.indicators,
            "units": self.units,
            "cells": self.cells,
            "pct": self.pct,
        }


def _pct(covered: int, of: int) -> float | None:
    return round(100.0 * covered / of, 1) if of else None


def coverage(
    db_session: Session,
    *,
    framework: Framework,
    units: Sequence[AssessUnit],
    year: int | None = None,
    now: datetime | None = None,
) -> Coverage:
    panel = build_panel(db_session, framework=framework, units=units, now=now)
    filled = ~np.isnan(panel.values)  # years × units × indicators
    years = np.array(panel.years)
    if year is not None:
        filled = filled & (years <= year)[:, None, None]
    latest = np.full(filled.shape[1:], -1, dtype=np.int64)  # units × indicators
    for k, y in enumerate(panel.years):
        latest = np.where(filled[k], y, latest)
    has_value = latest >= 0
    covered = has_value & (latest == year) if year is not None else has_value
    indicators = framework.indicators()
    n_units, n_indicators = covered.shape
    cells = [
        [int(latest[j, i]) if has_value[j, i] else None for j in range(n_units)]
        for i in range(n_indicators)
    ]
    return Coverage(
        framework=framework.code,
        year=year,
        indicators=[
            {
                "code": ind.code,
                "name_en": ind.name_en,
                "name_zh": ind.name_zh,
                "source": ind.source.kind.value,
                "covered": int(covered[:, i].sum()),
                "pct": _pct(int(covered[:, i].sum()), n_units),
            }
            for i, ind in enumerate(indicators)
        ],
        units=[
            {
                "code": unit.code,
                "name_en": unit.name_en,
                "name_zh": unit.name_zh,
                "covered": int(covered[j].sum()),
                "pct": _pct(int(covered[j].sum()), n_indicators),
            }
            for j, unit in enumerate(units)
        ],
        cells=cells,
        pct=_pct(int(covered.sum()), covered.size),
    )
