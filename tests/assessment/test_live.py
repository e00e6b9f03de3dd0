"""Live metrics from cases opened and worked through cases.service in the test city
(see tests/assessment/live_support.py for the cases and the numbers they give)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from cityos.assessment import service
from cityos.assessment.live_metrics import LIVE_METRICS
from cityos.datahub import service as datahub_service
from cityos.errors import NotFound
from tests.assessment.conftest import ACTOR
from tests.assessment.live_support import NOW, T0, D, worked
from tests.cases.conftest import CatalogFixture

__all__ = ["worked"]


def _value(values: Any, unit: str, metric: str) -> float | None:
    found: float | None = values[(unit, metric)].value
    return found


def test_case_metrics_per_district_and_for_the_city(db: Session, worked: CatalogFixture) -> None:
    values = service.live_values(db, ["TC", "TC-W", "TC-E"], now=NOW)
    assert _value(values, "TC-W", "cases.resolved_within_sla_pct") == 50.0
    assert _value(values, "TC-W", "cases.median_hours_to_resolve") == 20.0
    assert _value(values, "TC-E", "cases.resolved_within_sla_pct") == 100.0
    assert _value(values, "TC-E", "cases.median_hours_to_resolve") == 5.0
    assert _value(values, "TC", "cases.resolved_within_sla_pct") == 66.7
    assert _value(values, "TC", "cases.median_hours_to_resolve") == 10.0
    assert _value(values, "TC", "cases.reopen_rate_pct") == 0.0
    assert {unit for unit, _ in values} == {"TC", "TC-W", "TC-E"}
    assert {metric for _, metric in values} == set(LIVE_METRICS)


def test_cases_per_residents_need_the_units_population(db: Session, worked: CatalogFixture) -> None:
    service.refresh_area_units(db, actor=ACTOR)
    service.upsert_units(
        db, units=[service.UnitInput(code="TC-W", attributes={"population": 20_000})], actor=ACTOR
    )
    values = service.live_values(db, ["TC-W", "TC-E"], now=NOW)
    assert _value(values, "TC-W", "cases.per_10k_residents") == 1.0  # 2 cases / 20,000 × 10,000
    east = values[("TC-E", "cases.per_10k_residents")]
    assert east.value is None
    assert "no population for TC-E" in east.reason


def test_a_window_without_cases_gives_reasons_not_errors(
    db: Session, worked: CatalogFixture
) -> None:
    values = service.live_values(db, ["TC-E"], now=T0 - 30 * D, days=30)
    sla = values[("TC-E", "cases.resolved_within_sla_pct")]
    assert (sla.value, sla.reason) == (None, "no case with an SLA target ended in the window")
    assert values[("TC-E", "cases.median_hours_to_resolve")].reason == (
        "no case was resolved in the window"
    )


def test_sensing_metrics_come_from_the_sensing_module(db: Session, worked: CatalogFixture) -> None:
    values = service.live_values(db, ["TC"], now=NOW)
    assert values[("TC", "sensing.sensors_per_km2")].to_dict() == {"value": 0.0, "reason": None}
    for metric in ("sensing.reporting_pct", "sensing.alert_response_minutes"):
        assert values[("TC", metric)].to_dict() == {"value": None, "reason": "no data"}


def test_data_hub_metrics_come_from_the_data_hub(db: Session, worked: CatalogFixture) -> None:
    datahub_service.create_dataset(
        db,
        data={"name": "parks", "title_en": "Parks", "access": "open", "frequency": "annual"},
        department_code="CMB",
        actor=ACTOR,
    )
    values = service.live_values(db, ["TC"], now=NOW)
    assert values[("TC", "datahub.fresh_pct")].reason != "module not installed"
    assert values[("TC", "datahub.sharing_granted")].value is None  # no request decided


def test_units_outside_the_city_have_no_live_values(db: Session, worked: CatalogFixture) -> None:
    service.upsert_units(db, units=[service.UnitInput(code="paris-france")], actor=ACTOR)
    values = service.live_values(db, ["paris-france"], now=NOW)
    assert values[("paris-france", "cases.resolved_within_sla_pct")].reason == (
        "live metrics exist only for this city and its districts"
    )
    with pytest.raises(NotFound, match="atlantis"):
        service.live_values(db, ["atlantis"], now=NOW)


def test_the_default_units_are_the_home_city_and_the_districts(
    db: Session, worked: CatalogFixture
) -> None:
    assert service.default_unit_codes(db) == ["TC", "TC-E", "TC-W"]
    service.ensure_home_unit(db, actor=ACTOR)
    table = service.live_table(db, now=NOW)
    assert table["units"] == ["TC", "TC-E", "TC-W"]
    assert table["values"]["TC"]["cases.resolved_within_sla_pct"]["value"] == 66.7
    assert [m["code"] for m in table["metrics"]] == list(LIVE_METRICS)


def test_a_snapshot_stores_the_live_values_of_the_year(db: Session, worked: CatalogFixture) -> None:
    report = service.snapshot_live(db, actor=ACTOR, now=NOW)
    assert service.home_unit(db) is not None
    rows = service.list_values(db, indicator_code="cases.resolved_within_sla_pct")
    assert [(r.unit_code, r.year, r.value, r.source) for r in rows] == [
        ("TC", 2026, 66.7, "live"),
        ("TC-E", 2026, 100.0, "live"),
        ("TC-W", 2026, 50.0, "live"),
    ]
    assert report.written == len(service.list_values(db))
    again = service.snapshot_live(db, actor=ACTOR, now=NOW)
    assert again.written == report.written  # updated in place, not duplicated
    assert len(service.list_values(db)) == report.written


LIVE_DOCUMENT: dict[str, Any] = {
    "code": "L",
    "name": {"en": "Live test", "zh": "实时测试"},
    "root": {
        "code": "L",
        "children": [
            {
                "code": "L.SLA",
                "name": {"en": "On time", "zh": "按时"},
                "direction": "higher",
                "source": {"kind": "live", "metric": "cases.resolved_within_sla_pct"},
            },
            {
                "code": "L.HOURS",
                "name": {"en": "Hours", "zh": "时长"},
                "direction": "lower",
                "source": {"kind": "live", "metric": "cases.median_hours_to_resolve"},
            },
        ],
    },
}


def test_live_indicators_fill_the_current_year_and_earlier_snapshots(
    db: Session, worked: CatalogFixture
) -> None:
    service.save_framework(db, document=LIVE_DOCUMENT, actor=ACTOR)
    units = service.refresh_area_units(db, actor=ACTOR)
    service.set_values(
        db,
        records=[service.ValueRecord("TC-W", "cases.resolved_within_sla_pct", 2025, 40.0)],
        source="live",
        actor=ACTOR,
    )
    framework = service.get_framework(db, code="L")
    panel = service.build_panel(db, framework=framework, units=units, now=NOW)
    assert panel.years == (2025, 2026)
    assert panel.unit_codes() == ["TC-E", "TC-W"]
    assert panel.at(2026).tolist() == [[100.0, 5.0], [50.0, 20.0]]
    assert panel.at(2025)[1, 0] == 40.0
    assert np.isnan(panel.at(2025)[0, 0])


def test_a_value_stored_for_the_current_year_wins_over_the_live_value(
    db: Session, worked: CatalogFixture
) -> None:
    service.save_framework(db, document=LIVE_DOCUMENT, actor=ACTOR)
    units = service.refresh_area_units(db, actor=ACTOR)
    service.set_values(
        db,
        records=[service.ValueRecord("TC-W", "L.SLA", NOW.year, 75.0)],
        source="entered",
        actor=ACTOR,
    )
    framework = service.get_framework(db, code="L")
    panel = service.build_panel(db, framework=framework, units=units, now=NOW)
    assert panel.at(NOW.year).tolist() == [[100.0, 5.0], [75.0, 20.0]]  # TC-E: live fills


def test_a_peer_run_stores_the_new_home_city_only_after_the_pipeline(
    db: Session, worked: CatalogFixture
) -> None:
    service.save_framework(db, document=LIVE_DOCUMENT, actor=ACTOR)
    service.refresh_area_units(db, actor=ACTOR)
    service.save_peer_group(db, code="near", name_en="Near", members=["TC-E", "TC-W"], actor=ACTOR)
    db.commit()
    assert service.home_unit(db) is None
    homes_while_running: list[object] = []

    def progress(done: int, total: int) -> None:
        homes_while_running.append(service.home_unit(db))

    run = service.run_assessment(
        db,
        framework_code="L",
        unit_set="peers:near",
        actor=ACTOR,
        now=NOW,
        overrides={"uncertainty": {"runs": 5}},
        progress=progress,
    )
    assert homes_while_running
    assert set(homes_while_running) == {None}
    home = service.home_unit(db)
    assert home is not None
    assert home.code == "TC"
    assert [u.code for u in service.result_of(run).units] == ["TC", "TC-E", "TC-W"]


def test_districts_are_assessed_on_live_indicators(db: Session, worked: CatalogFixture) -> None:
    service.save_framework(db, document=LIVE_DOCUMENT, actor=ACTOR)
    run = service.run_assessment(
        db, framework_code="L", unit_set="areas:district", actor=ACTOR, now=NOW
    )
    result = service.result_of(run)
    assert run.units == "areas:district"
    assert [u.code for u in service.list_units(db, kind="area")] == ["TC-E", "TC-W"]
    assert result.year == 2026
    ranks = dict(zip([u.code for u in result.units], result.ranks["L"].tolist(), strict=True))
    assert ranks == {"TC-E": 1.0, "TC-W": 2.0}  # faster and more often on time


def test_a_run_says_why_live_indicators_have_no_value(db: Session, worked: CatalogFixture) -> None:
    document = json.loads(json.dumps(LIVE_DOCUMENT))
    document["root"]["children"].append(
        {
            "code": "L.SENSORS",
            "name": {"en": "Sensors", "zh": "传感器"},
            "direction": "higher",
            "source": {"kind": "live", "metric": "sensing.reporting_pct"},
        }
    )
    service.save_framework(db, document=document, actor=ACTOR)
    run = service.run_assessment(
        db, framework_code="L", unit_set="areas:district", actor=ACTOR, now=NOW
    )
    warnings = service.result_of(run).warnings
    assert "L.SENSORS (sensing.reporting_pct) has no live value for every unit: no data" in warnings
