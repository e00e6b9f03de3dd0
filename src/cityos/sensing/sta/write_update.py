"""Updating SensorThings entities: PATCH (merge), PUT (replace) and JSON Patch.

Read-only properties (``@iot.id``, a Datastream's phenomenonTime, …) sent back by clients
that PUT a whole entity are ignored. Navigation properties change links: a Thing given new
Locations gets a HistoricalLocation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.errors import InvalidInput, NotFound
from cityos.sensing import models as m
from cityos.sensing import notices
from cityos.sensing.readings import parse_period
from cityos.sensing.sta import write_derived as derived
from cityos.sensing.sta import write_links as links
from cityos.sensing.sta.entities import LOCATION, MULTI_DATASTREAM, OBSERVATION, EntityType, Link
from cityos.sensing.sta.jsonpatch import apply_patch, json_equal
from cityos.sensing.sta.write import (
    WriteContext,
    _many,
    check_keys,
    check_stream_result,
    link_many,
    target_id,
)
from cityos.sensing.sta.write_values import column_values, wire_value

# The official client leaves out empty strings, so a PUT without them means "".
EMPTY_WHEN_MISSING = frozenset({"description"})


def _row(db_session: Session, entity_type: EntityType, ident: int) -> Any:
    row = db_session.get(entity_type.model, ident)
    if row is None:
        raise NotFound(f"There is no {entity_type.name} with @iot.id {ident}.")
    return row


def _set_observation(ctx: WriteContext, row: m.Observation, body: dict[str, Any]) -> None:
    what = "Observation"
    for name in ("Datastream", "MultiDatastream", "FeatureOfInterest"):
        if body.get(name) is not None:
            nav = OBSERVATION.navs[name]
            setattr(row, nav.column, target_id(ctx, nav, body[name], what=f"{what}.{name}"))
    if "Datastream" in body and body["Datastream"] is not None:
        row.multi_datastream_id = None
    if "MultiDatastream" in body and body["MultiDatastream"] is not None:
        row.datastream_id = None
    if "phenomenonTime" in body:
        value = body["phenomenonTime"]
        if value is None:
            raise InvalidInput(f"{what}.phenomenonTime must not be null.")
        row.phenomenon_time_start, row.phenomenon_time_end = parse_period(
            value, what=f"{what}.phenomenonTime"
        )
    if "result" in body or "Datastream" in body or "MultiDatastream" in body:
        result = (
            body["result"]
            if "result" in body
            else wire_value(OBSERVATION, OBSERVATION.props["result"], row)
        )
        kind, stream = (
            ("Datastream", row.datastream_id)
            if row.datastream_id is not None
            else ("MultiDatastream", row.multi_datastream_id)
        )
        assert stream is not None
        check_stream_result(ctx, kind, stream, result, what=f"{what}.result")
        row.result_number, row.result_json = derived.result_columns(result)
    for name in ("resultTime", "validTime", "resultQuality", "parameters"):
        if name in body:
            prop = OBSERVATION.props[name]
            for column, value in column_values(OBSERVATION, prop, body[name]).items():
                setattr(row, column, value)


def _set_props(
    entity_type: EntityType, row: Any, body: dict[str, Any], *, replace: bool, what: str
) -> None:
    missing = []
    for prop in entity_type.props.values():
        if prop.read_only:
            continue
        if prop.name in body:
            value = body[prop.name]
            if value is None and prop.required:
                raise InvalidInput(f"{what}.{prop.name} is required and cannot be null.")
        elif not replace:
            continue
        elif prop.name in EMPTY_WHEN_MISSING:
            value = ""
        elif prop.required:
            missing.append(prop.name)
            continue
        else:
            value = None
        for column, column_value in column_values(entity_type, prop, value).items():
            setattr(row, column, column_value)
    if missing:
        raise InvalidInput(f"A PUT replaces the whole {what}: it is missing {', '.join(missing)}.")


def _set_navs(
    ctx: WriteContext, entity_type: EntityType, row: Any, body: dict[str, Any], *, what: str
) -> None:
    for nav in entity_type.navs.values():
        if nav.name not in body:
            continue
        value = body[nav.name]
        where = f"{what}.{nav.name}"
        if nav.link is Link.HERE:
            if value is None:
                if nav.required:
                    raise InvalidInput(f"{where} is required and cannot be unlinked.")
                setattr(row, nav.column, None)
            else:
                setattr(row, nav.column, target_id(ctx, nav, value, what=where))
            continue
        if not isinstance(value, list):
            raise InvalidInput(f"{where} must be a JSON array of entities or @iot.id links.")
        ids = _many(ctx, entity_type, nav, row.id, value, what=where)
        if nav.link is not Link.TABLE:
            continue
        if entity_type is MULTI_DATASTREAM and nav.name == "ObservedProperties":
            if len(ids) != len(row.multi_observation_data_types):
                raise InvalidInput(
                    f"{where} must keep {len(row.multi_observation_data_types)} entries, one "
                    "per result component."
                )
            links.replace_table_links(ctx.db, nav, row.id, ids)
        elif nav.order_col is not None or entity_type.name == "HistoricalLocation":
            links.replace_table_links(ctx.db, nav, row.id, ids)
        else:
            link_many(ctx, entity_type, nav, row.id, ids)


def update(
    db_session: Session,
    entity_type: EntityType,
    ident: int,
    body: Any,
    *,
    actor: Actor,
    now: datetime,
    replace: bool = False,
) -> None:
    """PATCH (merge) or, with ``replace``, PUT ``body`` onto the entity; audited."""
    what = entity_type.name
    row = _row(db_session, entity_type, ident)
    body = check_keys(entity_type, body, what=what)
    if links.ID_KEY in body and links.as_id(body[links.ID_KEY], what=what) != ident:
        raise InvalidInput(f"{what}: the body's @iot.id differs from the URL's ({ident}).")
    before = {p.name: wire_value(entity_type, p, row) for p in entity_type.props.values()}
    ctx = WriteContext(db_session, actor, now)
    if entity_type is OBSERVATION:
        old = (row.datastream_id, row.phenomenon_time_start)
        if replace:
            if "result" not in body:
                raise InvalidInput(f"A PUT replaces the whole {what}: it is missing result.")
            optional = ("resultTime", "validTime", "resultQuality", "parameters")
            body = {**dict.fromkeys(optional), **body}
        _set_observation(ctx, row, body)
        db_session.flush()
        derived.observation_changed(
            db_session, old=old, new=(row.datastream_id, row.phenomenon_time_start)
        )
    else:
        _set_props(entity_type, row, body, replace=replace, what=what)
        if entity_type is MULTI_DATASTREAM:
            count = len(row.multi_observation_data_types)
            if len(row.unit_of_measurements) != count:
                raise InvalidInput(
                    f"{what}: unitOfMeasurements and multiObservationDataTypes must have the "
                    "same length."
                )
        _set_navs(ctx, entity_type, row, body, what=what)
        db_session.flush()
        if entity_type is LOCATION and "location" in body:
            links.place_location(db_session, row)
    after = {p.name: wire_value(entity_type, p, row) for p in entity_type.props.values()}
    notices.queue(db_session, entity_type.name, ident, "update")
    record(
        db_session,
        actor=actor,
        action=f"sensing.sta.{entity_type.name.lower()}.{'replace' if replace else 'update'}",
        entity_type=f"sensing.{entity_type.name}",
        entity_id=ident,
        summary=f"{'replaced' if replace else 'updated'} {entity_type.set_name}({ident})",
        before={k: v for k, v in before.items() if after.get(k) != v},
        after={k: v for k, v in after.items() if before.get(k) != v},
    )


def json_patch(
    db_session: Session,
    entity_type: EntityType,
    ident: int,
    patch: Any,
    *,
    actor: Actor,
    now: datetime,
) -> None:
    """Apply an RFC 6902 patch to the entity's properties (and navigation links)."""
    row = _row(db_session, entity_type, ident)
    writable = [p for p in entity_type.props.values() if not p.read_only]
    document = {p.name: wire_value(entity_type, p, row) for p in writable}
    patched = apply_patch(document, patch)
    if not isinstance(patched, dict):
        raise InvalidInput("The JSON Patch must leave the entity a JSON object.")
    changes = {
        key: value
        for key, value in patched.items()
        if key not in document or not json_equal(document[key], value)
    }
    changes.update({key: None for key in document if key not in patched})
    update(db_session, entity_type, ident, changes, actor=actor, now=now)
