"""New citizen reports while the demo serves, so live screens (the operations center, the
work queue) show cases arriving: one report every ``PERIOD_S`` seconds on average, at a
random place in the city's centre, through the real ``open_case`` (routing, SLA clocks,
the ``cases.changed`` event)."""

from __future__ import annotations

import logging
import math
import threading

import numpy as np

from cityos.audit.service import Actor
from cityos.cases.catalog import list_categories
from cityos.cases.intake import CaseInput, CasePolicy, open_case
from cityos.cases.models import CaseSource
from cityos.db import make_engine, make_session_factory
from cityos.demo.cases_live import _attributes
from cityos.demo.city import CENTRE, KM_PER_DEG_LAT
from cityos.errors import CityOSError

log = logging.getLogger("cityos.demo.cases_stream")
PERIOD_S = 40.0
RADIUS_KM = 6.0
CITIZEN = Actor(user_id=None, label="citizen (demo)")
CODES = (
    "ROAD-POTHOLE",
    "STREETLIGHT-OUT",
    "WASTE-OVERFLOW",
    "NOISE-CONSTRUCTION",
    "DRAIN-BLOCKED",
    "ILLEGAL-PARKING",
)
TEXTS = (
    "路面有坑，请尽快处理。 A hole in the road, please fix it soon.",
    "路灯不亮。 The street light is out.",
    "垃圾桶满了，气味很大。 The bin is overflowing and smells.",
    "夜间施工噪音很大。 Loud building work at night.",
    "下水道堵了，积水。 The drain is blocked; water is pooling.",
    "车辆占用人行道。 Cars parked on the pavement.",
)


class LiveCases:
    """A daemon thread that opens a demo report now and then; ``close()`` stops it."""

    def __init__(self, database_url: str, *, period_s: float = PERIOD_S, seed: int = 7) -> None:
        self.engine = make_engine(database_url)
        self.factory = make_session_factory(self.engine)
        self.period_s = period_s
        self.rng = np.random.default_rng(seed)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo-cases", daemon=True)
        self.opened = 0

    def start(self) -> LiveCases:
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.wait(float(self.rng.exponential(self.period_s))):
            try:
                self.open_one()
            except CityOSError as error:  # a point outside the city, a category turned off
                log.info("demo report skipped: %s", error)

    def open_one(self) -> int:
        """Open one report; returns its id."""
        pick = int(self.rng.integers(len(CODES)))
        angle = float(self.rng.uniform(0, 2 * math.pi))
        distance = RADIUS_KM * math.sqrt(float(self.rng.random()))
        km_lon = KM_PER_DEG_LAT * math.cos(math.radians(CENTRE[1]))
        lon = CENTRE[0] + distance * math.cos(angle) / km_lon
        lat = CENTRE[1] + distance * math.sin(angle) / KM_PER_DEG_LAT
        with self.factory() as db_session:
            categories = {c.service_code: c for c in list_categories(db_session)}
            category = categories.get(CODES[pick]) or next(iter(categories.values()))
            case = open_case(
                db_session,
                CaseInput(
                    service_code=category.service_code,
                    lon=round(lon, 6),
                    lat=round(lat, 6),
                    description=TEXTS[pick],
                    attributes=_attributes(category),
                    source=CaseSource.WEB,
                ),
                actor=CITIZEN,
                policy=CasePolicy(),
            )
            db_session.commit()
            self.opened += 1
            return case.id

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.engine.dispose()


def start_live_cases(database_url: str) -> LiveCases:
    """Start the demo's stream of new reports (a daemon thread)."""
    return LiveCases(database_url).start()
