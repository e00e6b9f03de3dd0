"""Links between SensorThings entities on writes: ``{"@iot.id": n}`` references, the
association tables, a Thing's current Locations (with its HistoricalLocations) and placing a
Location on the city map.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Table, delete, exists, insert, select
from sqlalchemy.orm import Session

from cityos.errors import InvalidInput
from cityos.geo import service as geo_service
from cityos.sensing import models as m
from cityos.sensing.sta.entities import EntityType, Link, Nav, entity
from cityos.sensing.sta.write_values import representative_point

ID_KEY = "@iot.id"
MAX_ID = 2**31 - 1  # INTEGER ids
MAX_BIG_ID = 2**63 - 1  # BIGINT ids (Observations)


def is_link(value: Any) -> bool:
    """True for ``{"@iot.id": …}``: a reference to an existing entity, not a new one."""
    return isinstance(value, dict) and ID_KEY in value


def as_id(value: Any, *, what: str) -> int:
    """An entity id from the wire: an integer (or a string of digits) that an id can be."""
    ident: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        ident = value
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 30:
        ident = int(value.strip())
    if ident is None:
        raise InvalidInput(f"{what}: @iot.id must be an integer (got {str(value)[:40]!r}).")
    if not 1 <= ident <= MAX_BIG_ID:
        raise InvalidInput(
            f"{what}: @iot.id {str(ident)[:40]} is out of range: ids are whole numbers from 1 "
            f"to {MAX_BIG_ID}."
        )
    return ident


def max_id(target: EntityType) -> int:
    """The largest id a ``target`` row can have (Observations have 64-bit ids)."""
    column: Any = target.model.__table__.c.id
    return MAX_BIG_ID if isinstance(column.type, BigInteger) else MAX_ID


def check_exists(db_session: Session, target: EntityType, ids: Sequence[int], *, what: str) -> None:
    """InvalidInput naming the first of ``ids`` that is not a ``target``."""
    wanted = set(ids)
    if not wanted:
        return
    model: Any = target.model
    top = max_id(target)
    possible = [i for i in wanted if 1 <= i <= top]
    found = (
        set(db_session.scalars(select(model.id).where(model.id.in_(possible))))
        if possible
        else set()
    )
    missing = sorted(wanted - found)
    if missing:
        raise InvalidInput(
            f"{what}: there is no {target.name} with @iot.id {missing[0]}; link an existing one "
            f"(GET /{target.set_name}) or include a new one without @iot.id."
        )


def linked_id(db_session: Session, target: EntityType, value: Any, *, what: str) -> int:
    """The id of an existing ``target`` referenced as ``{"@iot.id": n}``."""
    ident = as_id(value[ID_KEY], what=what)
    check_exists(db_session, target, [ident], what=what)
    return ident


def reverse_nav(source: EntityType, nav: Nav) -> Nav:
    """The navigation property of ``nav``'s target that leads back to ``source``."""
    target = entity(nav.target)
    for back in target.navs.values():
        if back.target != source.name:
            continue
        if nav.link is Link.THERE and back.link is Link.HERE and back.column == nav.column:
            return back
        if nav.link is Link.HERE and back.link is Link.THERE and back.column == nav.column:
            return back
        if (
            nav.link is Link.TABLE
            and back.link is Link.TABLE
            and back.table is nav.table
            and back.source_col == nav.target_col
        ):
            return back
    raise LookupError(f"{target.name} has no navigation back to {source.name} for {nav.name}")


def replace_table_links(
    db_session: Session, nav: Nav, source_id: int, target_ids: Sequence[int]
) -> None:
    """Make ``target_ids`` (in order) the only targets of ``nav`` for ``source_id``."""
    table = nav.table
    assert isinstance(table, Table)
    db_session.execute(delete(table).where(table.c[nav.source_col] == source_id))
    add_table_links(db_session, nav, source_id, target_ids)


def add_table_links(
    db_session: Session, nav: Nav, source_id: int, target_ids: Sequence[int]
) -> None:
    """Link ``target_ids`` to ``source_id`` through ``nav``'s table (skipping existing links)."""
    table = nav.table
    assert isinstance(table, Table)
    if nav.order_col is None:
        present = set(
            db_session.scalars(
                select(table.c[nav.target_col]).where(table.c[nav.source_col] == source_id)
            )
        )
        target_ids = [t for t in dict.fromkeys(target_ids) if t not in present]
        rows = [{nav.source_col: source_id, nav.target_col: t} for t in target_ids]
    else:
        rows = [
            {nav.source_col: source_id, nav.target_col: t, nav.order_col: position}
            for position, t in enumerate(target_ids)
        ]
    if rows:
        db_session.execute(insert(table), rows)


def set_thing_locations(
    db_session: Session, thing_id: int, location_ids: Sequence[int], *, now: datetime
) -> int | None:
    """Make ``location_ids`` the Thing's Locations; a HistoricalLocation records a change.

    A Thing has one real-world location (several Location entities may encode it): linking
    new ones replaces the old ones. Returns the new HistoricalLocation's id (None when no
    Location is given, or when they are the Thing's Locations already: nothing moved).
    """
    table = m.thing_locations
    location_ids = list(dict.fromkeys(location_ids))
    current = set(
        db_session.scalars(select(table.c.location_id).where(table.c.thing_id == thing_id))
    )
    if current == set(location_ids):
        return None
    db_session.execute(delete(table).where(table.c.thing_id == thing_id))
    if not location_ids:
        return None
    db_session.execute(
        insert(table), [{"thing_id": thing_id, "location_id": lid} for lid in location_ids]
    )
    history = m.HistoricalLocation(thing_id=thing_id, time=now)
    db_session.add(history)
    db_session.flush()
    db_session.execute(
        insert(m.historical_location_locations),
        [{"historical_location_id": history.id, "location_id": lid} for lid in location_ids],
    )
    return history.id


def drop_empty_histories(db_session: Session) -> None:
    """Delete HistoricalLocations left without any Location (after a Location is deleted)."""
    links = m.historical_location_locations
    orphan = ~exists().where(links.c.historical_location_id == m.HistoricalLocation.id)
    db_session.execute(delete(m.HistoricalLocation).where(orphan))


def place_location(db_session: Session, row: m.Location) -> None:
    """Set the Location's representative point and the grid cell and district it lies in.

    A place outside the city is fine: the area codes stay empty.
    """
    lon, lat = representative_point(row.location)
    where = geo_service.locate(db_session, lon=lon, lat=lat)
    grid = where.by_level(geo_service.AreaLevel.GRID)
    district = where.by_level(geo_service.AreaLevel.DISTRICT)
    row.lon, row.lat = lon, lat
    row.grid_code = grid.code if grid else None
    row.district_code = district.code if district else None
