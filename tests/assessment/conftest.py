"""Shared fixtures of the assessment tests: a small framework, four cities and their values.

Framework ``T`` (total 100):

    T      Test index
    ├─ T.A  Services (60)      T.A1 higher is better (30), T.A2 lower is better (30)
    └─ T.B  Environment (40)   T.B1 higher is better (40)

Cities (units): ``alpha`` (the home city, population 2,000,000), ``beta``, ``gamma`` and
``delta``; values for 2024 and 2025 from :data:`VALUES` (delta has no T.B1).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cityos.assessment import service
from cityos.audit.service import Actor
from tests.cases.conftest import services
from tests.geo.conftest import city

__all__ = ["city", "services"]

ACTOR = Actor.system("test")

SMALL: dict[str, Any] = {
    "code": "T",
    "name": {"en": "Test index", "zh": "测试指数"},
    "version": "1",
    "root": {
        "code": "T",
        "name": {"en": "Test index", "zh": "测试指数"},
        "children": [
            {
                "code": "T.A",
                "name": {"en": "Services", "zh": "服务"},
                "weight": 60,
                "children": [
                    {
                        "code": "T.A1",
                        "name": {"en": "Resolved on time", "zh": "按时办结率"},
                        "weight": 30,
                        "unit": "%",
                        "direction": "higher",
                    },
                    {
                        "code": "T.A2",
                        "name": {"en": "Hours to resolve", "zh": "办结时长"},
                        "weight": 30,
                        "unit": "h",
                        "direction": "lower",
                    },
                ],
            },
            {
                "code": "T.B",
                "name": {"en": "Environment", "zh": "环境"},
                "weight": 40,
                "children": [
                    {
                        "code": "T.B1",
                        "name": {"en": "Green space", "zh": "绿地率"},
                        "weight": 40,
                        "unit": "%",
                        "direction": "higher",
                    }
                ],
            },
        ],
    },
}

CITIES = (
    ("alpha", "Alpha", "甲市", 2_000_000.0),
    ("beta", "Beta", "乙市", 1_000_000.0),
    ("gamma", "Gamma", "丙市", 500_000.0),
    ("delta", "Delta", "丁市", 250_000.0),
)

# (unit, year, indicator, value)
VALUES: tuple[tuple[str, int, str, float], ...] = (
    ("alpha", 2024, "T.A1", 80.0),
    ("alpha", 2024, "T.A2", 30.0),
    ("alpha", 2024, "T.B1", 35.0),
    ("beta", 2024, "T.A1", 70.0),
    ("beta", 2024, "T.A2", 50.0),
    ("beta", 2024, "T.B1", 40.0),
    ("gamma", 2024, "T.A1", 60.0),
    ("gamma", 2024, "T.A2", 20.0),
    ("gamma", 2024, "T.B1", 20.0),
    ("delta", 2024, "T.A1", 90.0),
    ("delta", 2024, "T.A2", 40.0),
    ("alpha", 2025, "T.A1", 85.0),
    ("alpha", 2025, "T.A2", 25.0),
    ("alpha", 2025, "T.B1", 36.0),
    ("beta", 2025, "T.A1", 72.0),
    ("beta", 2025, "T.A2", 45.0),
    ("beta", 2025, "T.B1", 41.0),
    ("gamma", 2025, "T.A1", 65.0),
    ("gamma", 2025, "T.A2", 22.0),
    ("gamma", 2025, "T.B1", 25.0),
    ("delta", 2025, "T.A1", 88.0),
    ("delta", 2025, "T.A2", 35.0),
)


def small_document() -> dict[str, Any]:
    """A fresh copy of framework T's document (tests may change it)."""
    return copy.deepcopy(SMALL)


@dataclass(frozen=True)
class AssessFixture:
    framework: str
    units: tuple[str, ...]
    home: str


def store_cities(db: Session) -> None:
    service.upsert_units(
        db,
        units=[
            service.UnitInput(
                code=code,
                name_en=name_en,
                name_zh=name_zh,
                region="east" if code in ("alpha", "beta") else "west",
                attributes={"population": population},
                is_home=code == "alpha",
            )
            for code, name_en, name_zh, population in CITIES
        ],
        actor=ACTOR,
    )


@pytest.fixture
def assessed(db: Session) -> AssessFixture:
    """Framework T stored, the four cities and their 2024–2025 values, committed."""
    service.save_framework(db, document=small_document(), actor=ACTOR)
    store_cities(db)
    service.set_values(
        db,
        records=[service.ValueRecord(u, c, y, v) for u, y, c, v in VALUES],
        source="entered",
        actor=ACTOR,
    )
    db.commit()
    return AssessFixture(framework="T", units=tuple(code for code, *_ in CITIES), home="alpha")
