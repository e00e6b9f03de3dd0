"""A small city map and a simulated fleet for the simulator, demo and page tests."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from cityos.geo import service as geo_service
from cityos.sensing.simulate import Member, ensure_fleet
from tests.geo.conftest import ACTOR, city_areas


def seed_map(db: Session) -> None:
    geo_service.upsert_areas(db, areas=city_areas(), actor=ACTOR)
    db.flush()


def seed_fleet(db: Session, size: int = 12) -> list[Member]:
    """The test map and ``size`` simulated devices (every kind), committed."""
    seed_map(db)
    members = ensure_fleet(db, size, rng=np.random.default_rng(1))
    db.commit()
    return members
