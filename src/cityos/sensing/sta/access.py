"""Who may read what through SensorThings.

Reads are open, except that a Thing marked ``restricted`` is seen only by signed-in users
(any role) — and with it what belongs to it: its Datastreams and MultiDatastreams, their
Observations, its HistoricalLocations, Locations that only restricted Things use, the
FeaturesOfInterest made from such Locations, and FeaturesOfInterest posted on their own
whose Observations all belong to restricted (Multi)Datastreams. Sensors and
ObservedProperties are a shared catalogue and always visible.

The FeatureOfInterest test is two ``EXISTS`` over the (indexed) ``feature_id`` of
Observations, the first of which usually stops at the feature's first Observation; it
runs for anonymous readers only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from cityos.auth.models import User
from cityos.sensing import models as m
from cityos.sensing.sta.entities import EntityType


def _restricted_things() -> Select[Any]:
    thing: Any = aliased(m.Thing)  # a fresh alias never correlates with the outer query
    return select(thing.id).where(thing.restricted == true())


def _hidden_streams(model: type[m.Datastream] | type[m.MultiDatastream]) -> Select[Any]:
    stream: Any = aliased(model)
    return select(stream.id).where(stream.thing_id.in_(_restricted_things()))


def _location_visible(location: Any) -> ColumnElement[bool]:
    link = m.thing_locations.alias()
    used_by_restricted = exists().where(
        link.c.location_id == location.id, link.c.thing_id.in_(_restricted_things())
    )
    open_link = m.thing_locations.alias()
    thing: Any = aliased(m.Thing)
    used_by_open = exists().where(
        open_link.c.location_id == location.id,
        open_link.c.thing_id.in_(select(thing.id).where(thing.restricted == false())),
    )
    return or_(~used_by_restricted, used_by_open)


def _observation_visible(observation: Any) -> ColumnElement[bool]:
    return and_(
        or_(
            observation.datastream_id.is_(None),
            observation.datastream_id.not_in(_hidden_streams(m.Datastream)),
        ),
        or_(
            observation.multi_datastream_id.is_(None),
            observation.multi_datastream_id.not_in(_hidden_streams(m.MultiDatastream)),
        ),
    )


def _feature_visible(feature: Any) -> ColumnElement[bool]:
    location: Any = aliased(m.Location)
    hidden_locations = select(location.id).where(~_location_visible(location))
    made_from_location = and_(
        feature.location_id.is_not(None), feature.location_id.not_in(hidden_locations)
    )
    seen: Any = aliased(m.Observation)
    hidden: Any = aliased(m.Observation)
    # posted on its own: visible unless every Observation of it is hidden
    own = or_(
        exists().where(seen.feature_id == feature.id, _observation_visible(seen)),
        ~exists().where(hidden.feature_id == feature.id),
    )
    return or_(and_(feature.location_id.is_(None), own), made_from_location)


def visible_clause(
    entity: EntityType, user: User | None, *, alias: Any = None
) -> ColumnElement[bool] | None:
    """A WHERE clause on ``alias`` (default ``entity.model``) keeping what ``user`` may
    read; None = everything."""
    if user is not None:
        return None
    model = entity.model
    row: Any = model if alias is None else alias
    if model is m.Thing:
        clause: ColumnElement[bool] = row.restricted == false()
        return clause
    if model is m.Datastream or model is m.MultiDatastream or model is m.HistoricalLocation:
        clause = row.thing_id.not_in(_restricted_things())
        return clause
    if model is m.Observation:
        return _observation_visible(row)
    if model is m.Location:
        return _location_visible(row)
    if model is m.FeatureOfInterest:
        return _feature_visible(row)
    return None
