"""Creating SensorThings entities: plain creates, links by ``@iot.id`` and deep inserts.

Everything a request creates is written in the caller's transaction, so a failing part
leaves nothing behind. Observations go through :func:`cityos.sensing.store.store_readings`
(latest values, rollups and rules follow); a missing FeatureOfInterest is made there from the
Thing's Location. Updates live in :mod:`.write_update`, deletes in :mod:`.write_delete`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.errors import Conflict, InvalidInput, NotFound
from cityos.sensing import models as m
from cityos.sensing import notices
from cityos.sensing.readings import Reading, check_result, parse_period, parse_time
from cityos.sensing.sta import write_links as links
from cityos.sensing.sta.entities import (
    LOCATION,
    MULTI_DATASTREAM,
    OBSERVATION,
    THING,
    EntityType,
    Link,
    Nav,
    entity,
)
from cityos.sensing.sta.write_values import column_values
from cityos.sensing.store import store_readings

COMPLEX = m.ObservationType.COMPLEX.value


@dataclass
class WriteContext:
    """One write request: its session, who writes, its clock and what it created."""

    db: Session
    actor: Actor
    now: datetime
    created: list[tuple[str, int]] = field(default_factory=list)
    _streams: dict[tuple[str, int], tuple[str, list[str]]] = field(default_factory=dict)

    def stream_types(self, kind: str, ident: int) -> tuple[str, list[str]]:
        """(observationType, multiObservationDataTypes) of a Datastream/MultiDatastream."""
        key = (kind, ident)
        if key not in self._streams:
            if kind == "Datastream":
                found = self.db.get(m.Datastream, ident)
                self._streams[key] = (found.observation_type, []) if found else ("", [])
            else:
                multi = self.db.get(m.MultiDatastream, ident)
                types = list(multi.multi_observation_data_types) if multi else []
                self._streams[key] = (multi.observation_type if multi else "", types)
        return self._streams[key]


def check_keys(entity_type: EntityType, body: Any, *, what: str) -> dict[str, Any]:
    """``body`` as an object, refusing names that are not properties of ``entity_type``."""
    if not isinstance(body, dict):
        raise InvalidInput(f"{what} must be a JSON object (got {type(body).__name__}).")
    unknown = [
        key
        for key in body
        if key not in entity_type.props
        and key not in entity_type.navs
        and "@iot." not in key  # annotations (@iot.id, …@iot.navigationLink) are ignored
    ]
    if unknown:
        known = ", ".join(sorted([*entity_type.props, *entity_type.navs]))
        raise InvalidInput(
            f"{what}: {', '.join(repr(k) for k in unknown)} "
            f"{'is not a property' if len(unknown) == 1 else 'are not properties'} of a "
            f"{entity_type.name} (known: {known})."
        )
    return body


def _items(value: Any, *, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"{what} must be a JSON array of entities or {{'@iot.id': n}} links.")
    return value


def target_id(ctx: WriteContext, nav: Nav, value: Any, *, what: str) -> int:
    """The id of the entity ``value`` names: an existing one (a link) or a new one."""
    target = entity(nav.target)
    if links.is_link(value):
        return links.linked_id(ctx.db, target, value, what=what)
    return insert_entity(ctx, target, value, {}, what=what)


def insert_entity(
    ctx: WriteContext,
    entity_type: EntityType,
    body: Any,
    presets: dict[str, Any],
    *,
    what: str | None = None,
) -> int:
    """Create one entity (and whatever it deep-inserts); returns its id.

    ``presets`` are navigation values given by the URL (``Things(1)/Datastreams`` presets
    ``{"Thing": 1}``): ids, or lists of ids for to-many navigations.
    """
    what = what or entity_type.name
    body = check_keys(entity_type, body, what=what)
    if links.ID_KEY in body and what == entity_type.name:
        raise InvalidInput(f"{what}: @iot.id is assigned by the server; leave it out.")
    for name in presets:
        if name in body:
            raise InvalidInput(f"{what}.{name} is given by the URL; leave it out of the body.")
    if entity_type is OBSERVATION:
        reading = observation_reading(ctx, body, presets, what=what)
        return store_one(ctx, reading, what=what)
    values: dict[str, Any] = {}
    missing = []
    for prop in entity_type.props.values():
        if prop.read_only:
            continue
        if prop.name in body:
            values.update(column_values(entity_type, prop, body[prop.name]))
        elif prop.required:
            missing.append(prop.name)
    for nav in entity_type.navs.values():
        if nav.link is not Link.HERE:
            continue
        if nav.name in presets:
            values[nav.column] = presets[nav.name]
        elif body.get(nav.name) is not None:
            values[nav.column] = target_id(ctx, nav, body[nav.name], what=f"{what}.{nav.name}")
        elif nav.required:
            missing.append(nav.name)
    if missing:
        raise InvalidInput(
            f"{what} is missing {', '.join(missing)}. Related entities are linked with "
            '{"Name": {"@iot.id": n}} or included as new objects.'
        )
    if entity_type is MULTI_DATASTREAM:
        _check_multi(values, body, presets, what=what)
    row: Any = entity_type.model(**values)
    ctx.db.add(row)
    ctx.db.flush()
    if entity_type is LOCATION:
        links.place_location(ctx.db, row)
    for nav in entity_type.navs.values():
        if nav.link is Link.HERE:
            continue
        if nav.name in presets:
            ids = list(presets[nav.name])
        elif nav.name in body:
            items = _items(body[nav.name], what=f"{what}.{nav.name}")
            ids = _many(ctx, entity_type, nav, row.id, items, what=f"{what}.{nav.name}")
        else:
            if nav.required:
                raise InvalidInput(f"{what} is missing {nav.name}.")
            continue
        if nav.link is Link.TABLE:
            link_many(ctx, entity_type, nav, row.id, ids)
    ctx.created.append((entity_type.name, row.id))
    notices.queue(ctx.db, entity_type.name, row.id, "create")
    return int(row.id)


def _many(
    ctx: WriteContext,
    source: EntityType,
    nav: Nav,
    source_id: int,
    items: list[Any],
    *,
    what: str,
) -> list[int]:
    """Resolve the items of a to-many navigation: link existing ones, create new ones.

    For a THERE navigation (the target holds our id) new targets are created pointing at
    us and linked ones are moved to us; the returned ids are only meaningful for tables.
    """
    target = entity(nav.target)
    ids: list[int] = []
    if nav.link is Link.THERE:
        back = links.reverse_nav(source, nav)
        for number, item in enumerate(items):
            where = f"{what}[{number}]"
            if links.is_link(item):
                ident = links.linked_id(ctx.db, target, item, what=where)
                row: Any = ctx.db.get(target.model, ident)
                setattr(row, nav.column, source_id)
                notices.queue(ctx.db, target.name, ident, "update")
            else:
                ident = insert_entity(ctx, target, item, {back.name: source_id}, what=where)
            ids.append(ident)
        return ids
    for number, item in enumerate(items):
        ids.append(target_id(ctx, nav, item, what=f"{what}[{number}]"))
    return ids


def link_many(
    ctx: WriteContext, source: EntityType, nav: Nav, source_id: int, ids: list[int]
) -> None:
    """Link ``ids`` through an association table, with the Thing/Location rules."""
    if source is THING and nav.name == "Locations":
        links.set_thing_locations(ctx.db, source_id, ids, now=ctx.now)
    elif source is LOCATION and nav.name == "Things":
        for thing_id in ids:
            links.set_thing_locations(ctx.db, thing_id, [source_id], now=ctx.now)
    else:
        links.add_table_links(ctx.db, nav, source_id, ids)


def _check_multi(
    values: dict[str, Any], body: dict[str, Any], presets: dict[str, Any], *, what: str
) -> None:
    if values.get("observation_type") != COMPLEX:
        raise InvalidInput(f"{what}.observationType must be {COMPLEX}.")
    units = values.get("unit_of_measurements") or []
    types = values.get("multi_observation_data_types") or []
    properties = presets.get("ObservedProperties", body.get("ObservedProperties"))
    count = len(properties) if isinstance(properties, list) else -1
    if not (len(units) == len(types) == count) or count == 0:
        raise InvalidInput(
            f"{what}: unitOfMeasurements ({len(units)}), multiObservationDataTypes "
            f"({len(types)}) and ObservedProperties ({max(count, 0)}) must have the same, "
            "non-zero length: one of each per result component."
        )


# --- observations ---------------------------------------------------------------------------


def _stream(
    ctx: WriteContext, body: dict[str, Any], presets: dict[str, Any], *, what: str
) -> tuple[str, int]:
    given = []
    for name in ("Datastream", "MultiDatastream"):
        if name in presets:
            given.append((name, int(presets[name])))
        elif body.get(name) is not None:
            nav = OBSERVATION.navs[name]
            given.append((name, target_id(ctx, nav, body[name], what=f"{what}.{name}")))
    if len(given) != 1:
        raise InvalidInput(
            f"{what} needs exactly one of Datastream and MultiDatastream, e.g. "
            '"Datastream": {"@iot.id": 1}, or POST it to /Datastreams(1)/Observations.'
        )
    return given[0]


def check_stream_result(
    ctx: WriteContext, kind: str, ident: int, result: Any, *, what: str
) -> None:
    """Refuse a result that does not fit the (Multi)Datastream's observation type(s)."""
    observation_type, types = ctx.stream_types(kind, ident)
    if kind == "Datastream":
        check_result(result, observation_type, what=what)
        return
    if not isinstance(result, list) or len(result) != len(types):
        raise InvalidInput(
            f"{what} must be an array of {len(types)} values, one per ObservedProperty of "
            f"MultiDatastream {ident}."
        )
    for number, (value, kind_uri) in enumerate(zip(result, types, strict=True)):
        check_result(value, kind_uri, what=f"{what}[{number}]")


def observation_reading(
    ctx: WriteContext, body: dict[str, Any], presets: dict[str, Any], *, what: str
) -> Reading:
    """A checked Reading for one Observation in the wire format."""
    kind, stream_id = _stream(ctx, body, presets, what=what)
    if "result" not in body:
        raise InvalidInput(f"{what} is missing result.")
    check_stream_result(ctx, kind, stream_id, body["result"], what=f"{what}.result")
    start, end = (
        parse_period(body["phenomenonTime"], what=f"{what}.phenomenonTime")
        if body.get("phenomenonTime") is not None
        else (ctx.now, None)
    )
    valid = body.get("validTime")
    valid_start, valid_end = (
        parse_period(valid, what=f"{what}.validTime") if valid is not None else (None, None)
    )
    result_time = body.get("resultTime")
    parameters = body.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidInput(f"{what}.parameters must be a JSON object or null.")
    feature = None
    if "FeatureOfInterest" in presets:
        feature = int(presets["FeatureOfInterest"])
    elif body.get("FeatureOfInterest") is not None:
        nav = OBSERVATION.navs["FeatureOfInterest"]
        feature = target_id(ctx, nav, body["FeatureOfInterest"], what=f"{what}.FeatureOfInterest")
    return Reading(
        datastream_id=stream_id if kind == "Datastream" else None,
        multi_datastream_id=stream_id if kind == "MultiDatastream" else None,
        phenomenon_start=start,
        phenomenon_end=end,
        result=body["result"],
        result_time=(
            parse_time(result_time, what=f"{what}.resultTime") if result_time is not None else None
        ),
        result_quality=body.get("resultQuality"),
        valid_start=valid_start,
        valid_end=valid_end,
        parameters=parameters,
        feature_id=feature,
    )


def store_one(ctx: WriteContext, reading: Reading, *, what: str) -> int:
    """Store one reading; Conflict when its stream already has one at that time."""
    stored = store_readings(ctx.db, [reading], now=ctx.now).ids[0]
    if stored is None:
        raise Conflict(duplicate_message(ctx.db, reading, what=what))
    ctx.created.append(("Observation", stored))
    return stored


def duplicate_message(db_session: Session, reading: Reading, *, what: str) -> str:
    column = (
        m.Observation.datastream_id
        if reading.datastream_id is not None
        else m.Observation.multi_datastream_id
    )
    stream = reading.datastream_id or reading.multi_datastream_id
    existing = db_session.scalar(
        select(m.Observation.id).where(
            column == stream, m.Observation.phenomenon_time_start == reading.phenomenon_start
        )
    )
    kind = "Datastream" if reading.datastream_id is not None else "MultiDatastream"
    return (
        f"{what}: {kind} {stream} already has an Observation at "
        f"{reading.phenomenon_start.isoformat()} (Observations({existing})); a stream holds one "
        "observation per phenomenonTime: update that one instead."
    )


# --- the public entry point -------------------------------------------------------------------


def create(
    db_session: Session,
    entity_type: EntityType,
    body: Any,
    *,
    actor: Actor,
    now: datetime,
    presets: dict[str, Any] | None = None,
) -> int:
    """Create ``entity_type`` from ``body`` (deep insert included); audited. Returns its id."""
    ctx = WriteContext(db_session, actor, now)
    ident = insert_entity(ctx, entity_type, body, presets or {})
    made = [f"{name}({ident_})" for name, ident_ in ctx.created]
    record(
        db_session,
        actor=actor,
        action=f"sensing.sta.{entity_type.name.lower()}.create",
        entity_type=f"sensing.{entity_type.name}",
        entity_id=ident,
        summary=f"created {', '.join(made[-20:])}" + (" …" if len(made) > 20 else ""),
        after={"created": made[:1000]},
    )
    return ident


def presets_for(
    db_session: Session, source: EntityType, source_id: int, nav_name: str
) -> tuple[EntityType, dict[str, Any]]:
    """What a POST to ``Source(id)/Nav`` creates, and the link to ``Source(id)`` it gets."""
    nav = source.navs.get(nav_name)
    if nav is None:
        raise InvalidInput(f"A {source.name} has no navigation property {nav_name!r}.")
    if not nav.many:
        raise InvalidInput(
            f"{source.name}({source_id})/{nav_name} is a single entity; POST to a collection."
        )
    if db_session.get(source.model, source_id) is None:
        raise NotFound(f"There is no {source.name} with @iot.id {source_id}.")
    back = links.reverse_nav(source, nav)
    preset: Any = source_id if back.link is Link.HERE else [source_id]
    return entity(nav.target), {back.name: preset}
