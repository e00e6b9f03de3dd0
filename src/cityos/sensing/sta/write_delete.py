"""Deleting SensorThings entities with the cascades of the specification.

- Thing: its Datastreams, MultiDatastreams (with their Observations) and HistoricalLocations.
- Location: its links, and HistoricalLocations left without a Location.
- Datastream / MultiDatastream / FeatureOfInterest: their Observations.
- Sensor: its Datastreams and MultiDatastreams. ObservedProperty: its Datastreams and the
  MultiDatastreams that use it.
- Observation: itself. For it and a FeatureOfInterest the affected datastreams' latest
  values and rollups are recomputed (other cascades remove those with their datastream).

The foreign keys cascade in the database (``ON DELETE CASCADE``), so one statement does it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.errors import NotFound
from cityos.sensing import models as m
from cityos.sensing.sta import write_derived as derived
from cityos.sensing.sta import write_links as links
from cityos.sensing.sta.entities import (
    FEATURE_OF_INTEREST,
    LOCATION,
    OBSERVATION,
    OBSERVED_PROPERTY,
    EntityType,
)


def delete_entity(
    db_session: Session, entity_type: EntityType, ident: int, *, actor: Actor
) -> None:
    """Delete one entity and what depends on it; audited."""
    model: Any = entity_type.model
    row = db_session.get(model, ident)
    if row is None:
        raise NotFound(f"There is no {entity_type.name} with @iot.id {ident}.")
    touched: list[tuple[int | None, datetime]] = []
    if entity_type is OBSERVATION:
        touched = [(row.datastream_id, row.phenomenon_time_start)]
    elif entity_type is FEATURE_OF_INTEREST:
        touched = _feature_observations(db_session, ident)
    name = getattr(row, "name", None)
    if entity_type is OBSERVED_PROPERTY:
        users = select(m.MultiDatastreamProperty.multi_datastream_id).where(
            m.MultiDatastreamProperty.observed_property_id == ident
        )
        db_session.execute(delete(m.MultiDatastream).where(m.MultiDatastream.id.in_(users)))
    db_session.expunge(row)
    db_session.execute(delete(model).where(model.id == ident))
    if entity_type is LOCATION:
        links.drop_empty_histories(db_session)
    if touched:
        derived.observations_removed(db_session, touched)
    db_session.expire_all()
    record(
        db_session,
        actor=actor,
        action=f"sensing.sta.{entity_type.name.lower()}.delete",
        entity_type=f"sensing.{entity_type.name}",
        entity_id=ident,
        summary=f"deleted {entity_type.set_name}({ident})" + (f" {name!r}" if name else ""),
    )


def _feature_observations(
    db_session: Session, feature_id: int
) -> list[tuple[int | None, datetime]]:
    """(datastream, time) of the datastream Observations that go with a FeatureOfInterest."""
    rows = db_session.execute(
        select(m.Observation.datastream_id, m.Observation.phenomenon_time_start).where(
            m.Observation.feature_id == feature_id, m.Observation.datastream_id.is_not(None)
        )
    )
    return [(r.datastream_id, r.phenomenon_time_start) for r in rows]
