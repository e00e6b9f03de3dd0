"""Assessed units (the home city, peer cities, areas of the map) and peer groups.

A unit's code is its key everywhere (values, runs, plans). Areas of the city map become
units of kind ``area`` with the area's code (:func:`refresh_area_units`), so district
assessments and live metrics line up with the map. One unit at most is the home city.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cityos.assessment.models import AssessPeerGroup, AssessUnit, UnitKind
from cityos.assessment.panel import Unit
from cityos.audit.service import Actor, record
from cityos.errors import InvalidInput, NotFound, Unprocessable
from cityos.geo import service as geo_service

MAX_CODE = 64
# Letters (any script: importers keep Chinese city names), digits, '.', '_' and '-',
# starting with a letter or digit, as the importers' slugs and the map's codes are.
UNIT_CODE = re.compile(r"[^\W_][\w.-]*")
DEFAULT_PEER_GROUP = "leading"
# The default peers (issue 6): code, English name, Chinese name, country. The codes are
# those the importers give these cities (importers.unit_code: city and country), so that
# importing the UN-Habitat sheet fills in their values.
LEADING_CITIES: tuple[tuple[str, str, str, str], ...] = (
    ("london-united-kingdom", "London", "伦敦", "United Kingdom"),
    ("new-york-united-states", "New York", "纽约", "United States"),
    ("paris-france", "Paris", "巴黎", "France"),
    ("tokyo-japan", "Tokyo", "东京", "Japan"),
    ("singapore", "Singapore", "新加坡", "Singapore"),
)


@dataclass(frozen=True, slots=True)
class UnitInput:
    """A unit to create or update. Empty names and ``is_home=None`` keep what is stored;
    ``attributes`` are merged into the stored ones."""

    code: str
    name_en: str = ""
    name_zh: str = ""
    kind: str | None = None  # None: keep (a new unit is a city)
    country: str = ""
    region: str | None = None
    tier: str | None = None
    attributes: Mapping[str, float] = field(default_factory=dict)
    is_home: bool | None = None


@dataclass(frozen=True, slots=True)
class UnitsReport:
    created: int
    updated: int

    def to_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated}


def check_code(code: str, what: str = "unit code") -> str | None:
    """What is wrong with a code (None: nothing)."""
    if not code or not code.strip():
        return f"the {what} is empty"
    if code != code.strip():
        return f"the {what} {code!r} has spaces around it"
    if len(code) > MAX_CODE:
        return f"the {what} {code[:20]!r}… is longer than {MAX_CODE} characters"
    return None


def _unit_problems(index: int, unit: UnitInput) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = []

    def add(message: str) -> None:
        problems.append({"row": index + 1, "code": unit.code, "message": message})

    problem = check_code(unit.code)
    if problem:
        add(problem)
    elif not UNIT_CODE.fullmatch(unit.code):
        add(
            f"the unit code {unit.code!r} is not allowed: use letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if unit.kind is not None and unit.kind not in {kind.value for kind in UnitKind}:
        add(f"kind {unit.kind!r} is not one of {', '.join(k.value for k in UnitKind)}")
    for name in (unit.name_en, unit.name_zh):
        if len(name) > 200:
            add(f"the name {name[:20]!r}… is longer than 200 characters")
    for key, value in unit.attributes.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            add(f"attribute {key!r} must be a finite number, not {value!r}")
    return problems


def list_units(db_session: Session, *, kind: str | None = None) -> list[AssessUnit]:
    """Units: the home city first, then cities, then areas, each by code."""
    query = select(AssessUnit)
    if kind is not None:
        query = query.where(AssessUnit.kind == kind)
    units = list(db_session.scalars(query))
    units.sort(key=lambda u: (not u.is_home, u.kind != UnitKind.CITY, u.code))
    return units


def _known(codes: Iterable[str], limit: int = 20) -> str:
    listed = sorted(codes)
    shown = ", ".join(listed[:limit]) or "none yet"
    return shown + (f" and {len(listed) - limit} more" if len(listed) > limit else "")


def get_units(db_session: Session, *, codes: Sequence[str]) -> list[AssessUnit]:
    """The units with these codes, in the order given; NotFound naming every unknown one."""
    wanted = list(dict.fromkeys(codes))
    rows = {
        u.code: u for u in db_session.scalars(select(AssessUnit).where(AssessUnit.code.in_(wanted)))
    }
    missing = [code for code in wanted if code not in rows]
    if missing:
        known = db_session.scalars(select(AssessUnit.code))
        raise NotFound(
            f"Unknown unit(s) {', '.join(missing)}; the units are: {_known(known)}. "
            "Add units with PUT /api/assess/units or by importing values.",
            details={"unknown_units": missing},
        )
    return [rows[code] for code in wanted]


def get_unit(db_session: Session, *, code: str) -> AssessUnit:
    return get_units(db_session, codes=[code])[0]


def home_unit(db_session: Session) -> AssessUnit | None:
    return db_session.scalars(select(AssessUnit).where(AssessUnit.is_home)).first()


def upsert_units(db_session: Session, *, units: Sequence[UnitInput], actor: Actor) -> UnitsReport:
    """Create or update units (all checked first: nothing is written when one is wrong)."""
    problems = [p for i, unit in enumerate(units) for p in _unit_problems(i, unit)]
    homes = [unit.code for unit in units if unit.is_home]
    if len(homes) > 1:
        problems.append({"message": f"only one unit can be the home city, not {homes}"})
    if problems:
        raise InvalidInput(
            f"{len(problems)} problem(s) with the units: "
            + "; ".join(
                f"{p.get('code', '')}: {p['message']}" if p.get("code") else p["message"]
                for p in problems[:10]
            ),
            details=problems,
        )
    codes = [unit.code for unit in units]
    stored = {
        u.code: u for u in db_session.scalars(select(AssessUnit).where(AssessUnit.code.in_(codes)))
    }
    if homes:
        db_session.execute(
            update(AssessUnit).where(AssessUnit.code != homes[0]).values(is_home=False)
        )
        for row in stored.values():
            row.is_home = row.code == homes[0]
    created = updated = 0
    label = actor.label[:200]
    for unit in units:
        found = stored.get(unit.code)
        if found is None:
            row = AssessUnit(code=unit.code, name_en=unit.name_en or unit.code, attributes={})
            db_session.add(row)
            stored[unit.code] = row
            created += 1
        else:
            row = found
            updated += 1
        row.name_en = unit.name_en or row.name_en
        row.name_zh = unit.name_zh or row.name_zh or ""
        row.kind = unit.kind or row.kind or UnitKind.CITY
        row.country = unit.country or row.country or ""
        row.region = unit.region if unit.region is not None else row.region
        row.tier = unit.tier if unit.tier is not None else row.tier
        row.attributes = {
            **(row.attributes or {}),
            **{k: float(v) for k, v in unit.attributes.items()},
        }
        if unit.is_home is not None:
            row.is_home = unit.is_home
        row.updated_by = label
    db_session.flush()
    if units:
        record(
            db_session,
            actor=actor,
            action="assess.units.upsert",
            entity_type="assess_unit",
            entity_id=codes[0] if len(codes) == 1 else f"{len(codes)} units",
            summary=f"Created {created} and updated {updated} unit(s): {_known(codes, 10)}",
        )
    return UnitsReport(created=created, updated=updated)


def panel_unit(row: AssessUnit) -> Unit:
    """The engine's view of a unit (numeric attributes only)."""
    attributes = {
        key: float(value)
        for key, value in (row.attributes or {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    return Unit(
        code=row.code,
        name_en=row.name_en,
        name_zh=row.name_zh,
        group=row.region,
        tier=row.tier,
        attributes=attributes,
    )


class MapArea(Protocol):
    """What :func:`area_attributes` reads of a map area (``geo_service.list_areas`` rows)."""

    @property
    def area_m2(self) -> float: ...

    @property
    def properties(self) -> Mapping[str, Any] | None: ...


def area_attributes(area: MapArea) -> dict[str, float]:
    """A map area's numbers: ``area_km2``, and ``population`` when the area has one."""
    attributes = {"area_km2": round(float(area.area_m2) / 1e6, 6)}
    population = (area.properties or {}).get("population")
    if isinstance(population, int | float) and not isinstance(population, bool):
        attributes["population"] = float(population)
    return attributes


def map_areas(db_session: Session, *, level: str) -> tuple[geo_service.AreaLevel, list[Any]]:
    """The level and the map's areas of ``level``; none is an error saying to import them."""
    area_level = geo_service.parse_level(level)
    areas = list(geo_service.list_areas(db_session, level=area_level))
    if not areas:
        raise Unprocessable(
            f"The city map has no {area_level.value} areas to assess: import them first "
            "(`cityos areas import`, or Admin → Areas)."
        )
    return area_level, areas


def refresh_area_units(
    db_session: Session, *, level: str = "district", actor: Actor
) -> list[AssessUnit]:
    """The map's areas of ``level`` as units of kind ``area`` (created or refreshed).

    Names and ``area_km2`` come from the map; a ``population`` property of the area is
    copied when it is a number. Other attributes of existing units are kept."""
    area_level, areas = map_areas(db_session, level=level)
    inputs = [
        UnitInput(
            code=area.code,
            name_en=area.name_en,
            name_zh=area.name_zh,
            kind=UnitKind.AREA,
            region=area_level.value,
            attributes=area_attributes(area),
        )
        for area in areas
    ]
    upsert_units(db_session, units=inputs, actor=actor)
    return get_units(db_session, codes=[area.code for area in areas])


# --- peer groups -------------------------------------------------------------------------


def list_peer_groups(db_session: Session) -> list[AssessPeerGroup]:
    return list(db_session.scalars(select(AssessPeerGroup).order_by(AssessPeerGroup.code)))


def get_peer_group(db_session: Session, *, code: str) -> AssessPeerGroup:
    group = db_session.scalars(
        select(AssessPeerGroup).where(AssessPeerGroup.code == code)
    ).one_or_none()
    if group is None:
        known = [g.code for g in list_peer_groups(db_session)]
        raise NotFound(
            f"There is no peer group {code!r}; the groups are: {_known(known)}.",
            details={"known_groups": known},
        )
    return group


def save_peer_group(
    db_session: Session,
    *,
    code: str,
    name_en: str,
    name_zh: str = "",
    members: Sequence[str],
    actor: Actor,
) -> AssessPeerGroup:
    """Create or replace a peer group; every member must be a stored unit."""
    problem = check_code(code, "group code")
    if problem:
        raise InvalidInput(f"Fix the peer group: {problem}.")
    if not members:
        raise InvalidInput(f"The peer group {code} has no members: list unit codes.")
    ordered = list(dict.fromkeys(members))
    get_units(db_session, codes=ordered)
    group = db_session.scalars(
        select(AssessPeerGroup).where(AssessPeerGroup.code == code)
    ).one_or_none()
    before = None if group is None else {"members": list(group.members)}
    if group is None:
        group = AssessPeerGroup(code=code)
        db_session.add(group)
    group.name_en = name_en or code
    group.name_zh = name_zh
    group.members = ordered
    group.updated_by = actor.label[:200]
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="assess.peers.create" if before is None else "assess.peers.update",
        entity_type="assess_peer_group",
        entity_id=code,
        summary=f"{code}: {', '.join(ordered)}",
        before=before,
        after={"members": ordered},
    )
    return group


def delete_peer_group(db_session: Session, *, code: str, actor: Actor) -> None:
    group = get_peer_group(db_session, code=code)
    before = {"members": list(group.members)}
    db_session.delete(group)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="assess.peers.delete",
        entity_type="assess_peer_group",
        entity_id=code,
        summary=f"Deleted the peer group {code}",
        before=before,
    )


def ensure_default_peers(db_session: Session, *, actor: Actor) -> AssessPeerGroup:
    """The ``leading`` group (London, New York, Paris, Tokyo, Singapore), with its units
    created when missing (and their Chinese names filled in when empty); an existing group
    is returned as it is."""
    existing = db_session.scalars(
        select(AssessPeerGroup).where(AssessPeerGroup.code == DEFAULT_PEER_GROUP)
    ).one_or_none()
    if existing is not None:
        return existing
    codes = [code for code, *_ in LEADING_CITIES]
    stored = {
        u.code: u for u in db_session.scalars(select(AssessUnit).where(AssessUnit.code.in_(codes)))
    }
    inputs = [
        UnitInput(code=code, name_en=name_en, name_zh=name_zh, country=country)
        if code not in stored
        else UnitInput(code=code, name_zh=name_zh)
        for code, name_en, name_zh, country in LEADING_CITIES
        if code not in stored or not stored[code].name_zh
    ]
    if inputs:
        upsert_units(db_session, units=inputs, actor=actor)
    return save_peer_group(
        db_session,
        code=DEFAULT_PEER_GROUP,
        name_en="Leading cities",
        name_zh="领先城市",
        members=codes,
        actor=actor,
    )


def _map_city(db_session: Session) -> Any:
    cities = geo_service.list_areas(db_session, level=geo_service.AreaLevel.CITY)
    if not cities:
        raise Unprocessable(
            "There is no home city: mark a unit as the home city (is_home) or import the "
            "city map (`cityos areas import`)."
        )
    return cities[0]


def draft_home_unit(db_session: Session) -> AssessUnit:
    """The home city without writing: the stored one, else the map's city area as an
    unsaved unit (what :func:`ensure_home_unit` would store)."""
    home = home_unit(db_session)
    if home is not None:
        return home
    city = _map_city(db_session)
    stored = db_session.scalars(select(AssessUnit).where(AssessUnit.code == city.code)).first()
    return stored or AssessUnit(
        code=city.code,
        name_en=city.name_en,
        name_zh=city.name_zh,
        kind=UnitKind.CITY,
        attributes={"area_km2": round(city.area_m2 / 1e6, 6)},
        is_home=True,
    )


def ensure_home_unit(db_session: Session, *, actor: Actor) -> AssessUnit:
    """The home city; created from the map's city area when no unit is marked home."""
    home = home_unit(db_session)
    if home is not None:
        return home
    city = _map_city(db_session)
    upsert_units(
        db_session,
        units=[
            UnitInput(
                code=city.code,
                name_en=city.name_en,
                name_zh=city.name_zh,
                kind=UnitKind.CITY,
                attributes={"area_km2": round(city.area_m2 / 1e6, 6)},
                is_home=True,
            )
        ],
        actor=actor,
    )
    return get_unit(db_session, code=city.code)
