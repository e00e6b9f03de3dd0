"""Request bodies of the assessment JSON API (``/api/assess``) and the JSON of stored rows."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cityos.assessment.models import (
    AssessFramework,
    AssessPeerGroup,
    AssessUnit,
    IndicatorValue,
)
from cityos.assessment.plans import MeasureInput, TargetInput
from cityos.assessment.units import UnitInput
from cityos.assessment.values import ValueRecord
from cityos.assessment.verification import Stage

MAX_VALUES = 100_000  # values in one POST


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeightsIn(Body):
    weights: dict[str, float | None] = Field(
        description="Node code → new weight (null: an equal share)."
    )
    renormalise: bool = Field(
        False, description="Scale each group's children to fit instead of refusing."
    )


class UnitIn(Body):
    code: str
    name_en: str = ""
    name_zh: str = ""
    kind: str | None = None
    country: str = ""
    region: str | None = None
    tier: str | None = None
    attributes: dict[str, float] = Field(default_factory=dict)
    is_home: bool | None = None

    def to_input(self) -> UnitInput:
        return UnitInput(**self.model_dump())


class UnitsIn(Body):
    units: list[UnitIn] = Field(min_length=1, max_length=10_000)


class PeerGroupIn(Body):
    name_en: str = ""
    name_zh: str = ""
    members: list[str] = Field(min_length=1, max_length=1000)


class ValueIn(Body):
    unit: str
    indicator: str
    year: int
    value: float | None = Field(description="null removes the stored value")
    note: str = ""

    def to_record(self) -> ValueRecord:
        return ValueRecord(
            unit_code=self.unit,
            indicator_code=self.indicator,
            year=self.year,
            value=self.value,
            note=self.note,
        )


class ValuesIn(Body):
    source: str = Field("entered", max_length=200)
    values: list[ValueIn] = Field(min_length=1, max_length=MAX_VALUES)


class RunIn(Body):
    framework: str
    units: str | list[str] = Field(
        description="'areas:district', 'peers:<group code>' or a list of unit codes."
    )
    config: dict[str, Any] = Field(default_factory=dict, description="Run config overrides.")
    title: str = Field("", max_length=300)


class StageIn(Body):
    year: int
    value: float


class TargetIn(Body):
    indicator: str
    baseline_year: int
    baseline_value: float | None = None
    stages: list[StageIn] = Field(min_length=1, max_length=50)
    problem: str = ""
    goal: str = ""

    def to_input(self) -> TargetInput:
        return TargetInput(
            indicator_code=self.indicator,
            baseline_year=self.baseline_year,
            baseline_value=self.baseline_value,
            stages=[Stage(stage.year, stage.value) for stage in self.stages],
            problem=self.problem,
            goal=self.goal,
        )


class PlanIn(Body):
    title: str
    unit: str
    framework: str | None = None
    description: str = ""
    targets: list[TargetIn] = Field(default_factory=list, max_length=200)


class PlanPatch(Body):
    title: str | None = None
    description: str | None = None
    framework: str | None = None

    def changes(self) -> dict[str, Any]:
        given = self.model_dump(exclude_unset=True)
        if "framework" in given:
            given["framework_code"] = given.pop("framework")
        return given


class MeasureIn(Body):
    title: str
    department: str | None = None
    target_id: int | None = None
    status: str = "planned"
    link: str = ""
    notes: str = ""
    due_date: date | None = None

    def to_input(self) -> MeasureInput:
        return MeasureInput(
            title=self.title,
            department_code=self.department,
            target_id=self.target_id,
            status=self.status,
            link=self.link,
            notes=self.notes,
            due_date=self.due_date,
        )


class MeasurePatch(Body):
    title: str | None = None
    department: str | None = None
    target_id: int | None = None
    status: str | None = None
    link: str | None = None
    notes: str | None = None
    due_date: date | None = None

    def changes(self) -> dict[str, Any]:
        given = self.model_dump(exclude_unset=True)
        if "department" in given:
            given["department_code"] = given.pop("department")
        return given


# --- JSON of stored rows ---------------------------------------------------------------------


def framework_summary(row: AssessFramework) -> dict[str, Any]:
    return {
        "code": row.code,
        "name_en": row.name_en,
        "name_zh": row.name_zh,
        "version": row.version,
        "builtin": row.builtin,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
        "updated_by": row.updated_by,
    }


def unit_dict(row: AssessUnit) -> dict[str, Any]:
    return {
        "code": row.code,
        "name_en": row.name_en,
        "name_zh": row.name_zh,
        "kind": row.kind,
        "country": row.country,
        "region": row.region,
        "tier": row.tier,
        "attributes": row.attributes or {},
        "is_home": row.is_home,
    }


def peer_group_dict(row: AssessPeerGroup) -> dict[str, Any]:
    return {
        "code": row.code,
        "name_en": row.name_en,
        "name_zh": row.name_zh,
        "members": list(row.members),
    }


def value_dict(row: IndicatorValue) -> dict[str, Any]:
    return {
        "unit": row.unit_code,
        "indicator": row.indicator_code,
        "year": row.year,
        "value": row.value,
        "source": row.source,
        "note": row.note,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
        "updated_by": row.updated_by,
    }
