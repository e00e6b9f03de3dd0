"""Who may read what through SensorThings.

Reads are open, except that a Thing marked ``restricted`` is seen only by signed-in users
(any role) — and with it what belongs to it: its Datastreams and MultiDatastreams, their
Observations, its HistoricalLocations, Locations that only restricted Things use, and the
FeaturesOfInterest made from such Locations. Sensors and ObservedProperties are a shared
catalogue and always visible.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true

from cityos.auth.models import User
from cityos.sensing import models as m
from cityos.sensing.sta.entities import EntityType


def _restricted_things() -> Select[Any]:
    return select(m.Thing.id).where(m.Thing.restricted == true())


def _hidden_streams(model: type[m.Datastream] | type[m.MultiDatastream]) -> Select[Any]:
    return select(model.id).where(model.thing_id.in_(_restricted_things()))


def _location_visible() -> ColumnElement[bool]:
    link = m.thing_locations
    used_by_restricted = exists().where(
        link.c.location_id == m.Location.id, link.c.thing_id.in_(_restricted_things())
    )
    used_by_open = exists().where(
        link.c.location_id == m.Location.id,
        link.c.thing_id.in_(select(m.Thing.id).where(m.Thing.restricted == false())),
    )
    return or_(~used_by_restricted, used_by_open)


def visible_clause(entity: EntityType, user: User | None) -> ColumnElement[bool] | None:
    """A WHERE clause on ``entity.model`` keeping what ``user`` may read; None = everything."""
    if user is not None:
        return None
    model = entity.model
    if model is m.Thing:
        return m.Thing.restricted == false()
    if model is m.Datastream or model is m.MultiDatastream:
        return model.thing_id.not_in(_restricted_things())
    if model is m.HistoricalLocation:
        return m.HistoricalLocation.thing_id.not_in(_restricted_things())
    if model is m.Observation:
        return and_(
            or_(
                m.Observation.datastream_id.is_(None),
                m.Observation.datastream_id.not_in(_hidden_streams(m.Datastream)),
            ),
            or_(
                m.Observation.multi_datastream_id.is_(None),
                m.Observation.multi_datastream_id.not_in(_hidden_streams(m.MultiDatastream)),
            ),
        )
    if model is m.Location:
        return _location_visible()
    if model is m.FeatureOfInterest:
        hidden = select(m.Location.id).where(~_location_visible())
        return or_(
            m.FeatureOfInterest.location_id.is_(None),
            m.FeatureOfInterest.location_id.not_in(hidden),
        )
    return None
