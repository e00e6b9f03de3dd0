"""``POST /CreateObservations``: many Observations in the dataArray format, in one batch.

The body is a list of ``{"Datastream": {"@iot.id": n}, "components": [...], "dataArray":
[[...], ...]}`` (or ``"MultiDatastream"``). The answer has one entry per row, in order: the
new Observation's selfLink, or ``"error"`` for a row that was not stored (bad time, wrong
result type, or the stream already has an observation at that time). A body that is wrong as
a whole (unknown stream, unknown component) is refused with a 400 and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.errors import CityOSError, InvalidInput
from cityos.sensing.readings import Reading, parse_period, parse_time
from cityos.sensing.sta import write_links as links
from cityos.sensing.sta.entities import DATASTREAM, FEATURE_OF_INTEREST, MULTI_DATASTREAM
from cityos.sensing.sta.write import WriteContext, check_stream_result
from cityos.sensing.store import store_readings

COMPONENTS = (
    "phenomenonTime",
    "result",
    "resultTime",
    "resultQuality",
    "validTime",
    "parameters",
    "FeatureOfInterest/id",
)
ERROR = "error"


@dataclass(frozen=True, slots=True)
class Group:
    kind: str  # "Datastream" | "MultiDatastream"
    stream_id: int
    components: list[str]
    rows: list[Any]


def _group(db_session: Session, item: Any, number: int) -> Group:
    what = f"CreateObservations[{number}]"
    if not isinstance(item, dict):
        raise InvalidInput(f"{what} must be an object with Datastream, components and dataArray.")
    unknown = [k for k in item if k not in ("Datastream", "MultiDatastream", "components",
                                            "dataArray") and "@iot." not in k]  # fmt: skip
    if unknown:
        raise InvalidInput(f"{what}: unknown member(s) {', '.join(map(repr, unknown))}.")
    streams = [k for k in ("Datastream", "MultiDatastream") if item.get(k) is not None]
    if len(streams) != 1 or not links.is_link(item[streams[0]]):
        raise InvalidInput(
            f"{what} needs one of Datastream or MultiDatastream as {{'@iot.id': n}}."
        )
    kind = streams[0]
    target = DATASTREAM if kind == "Datastream" else MULTI_DATASTREAM
    stream_id = links.linked_id(db_session, target, item[kind], what=f"{what}.{kind}")
    components = item.get("components")
    if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
        raise InvalidInput(f"{what}.components must be an array of names, e.g. ['result'].")
    bad = [c for c in components if c not in COMPONENTS]
    if bad:
        raise InvalidInput(
            f"{what}.components: {', '.join(map(repr, bad))} not supported; use "
            f"{', '.join(COMPONENTS)}."
        )
    if "result" not in components:
        raise InvalidInput(f"{what}.components must include 'result'.")
    if len(set(components)) != len(components):
        raise InvalidInput(f"{what}.components names a component twice.")
    rows = item.get("dataArray")
    if not isinstance(rows, list):
        raise InvalidInput(f"{what}.dataArray must be an array of rows (arrays of values).")
    return Group(kind, stream_id, components, rows)


def _reading(
    ctx: WriteContext, group: Group, row: Any, features: set[int], *, what: str
) -> Reading:
    if not isinstance(row, list) or len(row) != len(group.components):
        raise InvalidInput(f"{what} must be an array of {len(group.components)} values.")
    values = dict(zip(group.components, row, strict=True))
    check_stream_result(ctx, group.kind, group.stream_id, values["result"], what=what)
    start, end = (
        parse_period(values["phenomenonTime"], what=what)
        if values.get("phenomenonTime") is not None
        else (ctx.now, None)
    )
    valid = values.get("validTime")
    valid_start, valid_end = parse_period(valid, what=what) if valid is not None else (None, None)
    result_time = values.get("resultTime")
    parameters = values.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidInput(f"{what}: parameters must be an object.")
    feature = values.get("FeatureOfInterest/id")
    if feature is not None:
        feature = links.as_id(feature, what=what)
        if feature not in features:
            raise InvalidInput(f"{what}: no FeatureOfInterest {feature}.")
    return Reading(
        datastream_id=group.stream_id if group.kind == "Datastream" else None,
        multi_datastream_id=group.stream_id if group.kind == "MultiDatastream" else None,
        phenomenon_start=start,
        phenomenon_end=end,
        result=values["result"],
        result_time=parse_time(result_time, what=what) if result_time is not None else None,
        result_quality=values.get("resultQuality"),
        valid_start=valid_start,
        valid_end=valid_end,
        parameters=parameters,
        feature_id=feature,
    )


def _existing_features(db_session: Session, groups: list[Group]) -> set[int]:
    wanted: set[int] = set()
    for group in groups:
        if "FeatureOfInterest/id" not in group.components:
            continue
        column = group.components.index("FeatureOfInterest/id")
        for row in group.rows:
            if isinstance(row, list) and len(row) > column:
                try:
                    wanted.add(links.as_id(row[column], what="FeatureOfInterest/id"))
                except InvalidInput:
                    continue  # the row is answered "error" when it is read
    wanted = {i for i in wanted if i <= links.max_id(FEATURE_OF_INTEREST)}
    model: Any = FEATURE_OF_INTEREST.model
    if not wanted:
        return set()
    return set(db_session.scalars(select(model.id).where(model.id.in_(wanted))))


def create_observations(
    db_session: Session,
    body: Any,
    *,
    actor: Actor,
    now: datetime,
    self_link: Callable[[int], str],
) -> list[str]:
    """Store the rows of a CreateObservations body; one selfLink or ``"error"`` per row."""
    if not isinstance(body, list):
        raise InvalidInput(
            "CreateObservations takes a JSON array of {Datastream, components, dataArray}."
        )
    groups = [_group(db_session, item, number) for number, item in enumerate(body)]
    features = _existing_features(db_session, groups)
    ctx = WriteContext(db_session, actor, now)
    readings: list[Reading] = []
    slots: list[int | None] = []  # per row: index into readings, or None for a bad row
    for number, group in enumerate(groups):
        for row_number, row in enumerate(group.rows):
            what = f"CreateObservations[{number}].dataArray[{row_number}]"
            try:
                readings.append(_reading(ctx, group, row, features, what=what))
            except CityOSError:
                slots.append(None)
                continue
            slots.append(len(readings) - 1)
    ids = store_readings(db_session, readings, now=now).ids if readings else []
    answer = [
        ERROR if slot is None or ids[slot] is None else self_link(int(ids[slot] or 0))
        for slot in slots
    ]
    stored = sum(1 for a in answer if a != ERROR)
    streams = sorted({f"{g.kind}({g.stream_id})" for g in groups})
    record(
        db_session,
        actor=actor,
        action="sensing.sta.observation.create_many",
        entity_type="sensing.Observation",
        entity_id=",".join(streams)[:128] or "-",
        summary=f"stored {stored} of {len(answer)} observations for {', '.join(streams[:10])}",
    )
    return answer
