"""The demo city: a deterministic, plausible city to try CityOS on.

``seed`` runs every step in order; each step is idempotent (seeding twice is harmless).
Later domains add their demo data by appending a step to ``STEPS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from cityos.demo.assessment import seed_assessment
from cityos.demo.cases import seed_cases
from cityos.demo.catalog import seed_catalog
from cityos.demo.city import seed_areas
from cityos.demo.datahub import seed_datahub
from cityos.demo.people import DEMO_PASSWORD, DEMO_USERS, seed_departments, seed_users
from cityos.demo.sensing import seed_sensing

Step = Callable[[Session], str]
STEPS: list[Step] = [
    seed_departments,
    seed_users,
    seed_areas,
    seed_catalog,
    seed_cases,
    seed_assessment,
    seed_datahub,
    seed_sensing,
]


@dataclass
class DemoReport:
    lines: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return "\n".join(self.lines)


def seed(db_session: Session) -> DemoReport:
    """Seed every part of the demo city into ``db_session`` (the caller commits)."""
    report = DemoReport()
    for step in STEPS:
        report.lines.append(step(db_session))
        db_session.flush()
    return report


__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "STEPS", "DemoReport", "seed"]
