"""The operations center's sensing figures and linking a dispatched case to an alert.

Sensors in the test city (tests/geo/conftest.py) with a grid generated over the east
district: public water-level gauges in TC-W-S (one reporting, one silent) and TC-E-N (its
reading three hours old), a public thermometer in TC-E-N, and a restricted pressure sensor
in TC-W-N that reports but is never shown. Alerts are written as the rules would leave them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos import events
from cityos.audit.models import AuditEntry
from cityos.cases import service as cases_service
from cityos.errors import Conflict, InvalidInput, NotFound
from cityos.geo.grid import generate_grid
from cityos.sensing import service
from cityos.sensing.alerts import place_of
from cityos.sensing.models import Alert, AlertState
from tests.cases.conftest import CatalogFixture, city, services
from tests.sensing.alerts_support import (
    ACTOR,
    EAST_NORTH,
    MIN,
    T0,
    WEST_NORTH,
    WEST_SOUTH,
    Gauge,
    feed,
    make_gauge,
    make_rule,
)

__all__ = ["city", "services"]

NOW = T0 + timedelta(hours=6)
H = timedelta(hours=1)


@dataclass(frozen=True)
class Sensors:
    west: Gauge  # water level, TC-W-S, read 10 minutes ago
    silent: Gauge  # water level, TC-W-S, never read
    east: Gauge  # water level, TC-E-N, read 3 hours ago
    thermometer: Gauge  # air temperature, TC-E-N, read 5 minutes ago
    pump: Gauge  # pressure, TC-W-N, restricted, read a minute ago
    east_grid: str


@pytest.fixture
def sensors(db: Session, services: CatalogFixture) -> Sensors:
    generate_grid(db, within_code="TC-E", cell_size_m=2500, actor=ACTOR)
    made = Sensors(
        west=make_gauge(db, WEST_SOUTH, name="West gauge"),
        silent=make_gauge(db, WEST_SOUTH, name="Silent gauge"),
        east=make_gauge(db, EAST_NORTH, name="East gauge"),
        thermometer=make_gauge(db, EAST_NORTH, name="Thermometer", prop="air temperature"),
        pump=make_gauge(db, WEST_NORTH, name="Pump", prop="pressure", restricted=True),
        east_grid="",
    )
    feed(db, made.west.datastream_id, [12.5], start=NOW - 10 * MIN, now=NOW)
    feed(db, made.east.datastream_id, [30.0], start=NOW - 3 * H, now=NOW)
    feed(db, made.thermometer.datastream_id, [21.5], start=NOW - 5 * MIN, now=NOW)
    feed(db, made.pump.datastream_id, [3.2], start=NOW - MIN, now=NOW)
    grid = place_of(db, made.east.datastream_id).grid_code
    assert grid is not None
    db.commit()
    return replace(made, east_grid=grid)


def add_alert(
    db: Session,
    gauge: Gauge,
    severity: str,
    started: timedelta,
    ended: timedelta | None = None,
    category: str | None = None,
) -> Alert:
    """An alert on ``gauge`` that started ``started`` before NOW (ended ``ended`` before)."""
    rule = make_rule(
        db, name=f"{severity} rule", datastream_id=gauge.datastream_id, case_category=category
    )
    place = place_of(db, gauge.datastream_id)
    alert = Alert(
        rule_id=rule.id,
        datastream_id=gauge.datastream_id,
        state=AlertState.ACTIVE if ended is None else AlertState.CLEARED,
        severity=severity,
        message=f"{severity} on {gauge.datastream_id}",
        started_at=NOW - started,
        ended_at=None if ended is None else NOW - ended,
        lon=place.lon,
        lat=place.lat,
        grid_code=place.grid_code,
        district_code=place.district_code,
    )
    db.add(alert)
    db.flush()
    return alert


@pytest.fixture
def alerts(db: Session, sensors: Sensors) -> dict[str, Alert]:
    made = {
        "critical": add_alert(db, sensors.west, "critical", 2 * H, category="FLOODING"),
        "warning": add_alert(db, sensors.east, "warning", H),
        "cleared": add_alert(db, sensors.west, "warning", 5 * H, ended=3 * H),
        "info": add_alert(db, sensors.east, "info", 30 * MIN),
    }
    made["warning"].acknowledged_at = NOW - 30 * MIN
    db.commit()
    return made


def test_active_alerts_are_counted_by_severity_now_and_at_an_instant(
    db: Session, alerts: dict[str, Alert], sensors: Sensors
) -> None:
    now = service.alert_board(db, area_code=None)
    assert now == service.AlertCounts(
        active=3, by_severity={"info": 1, "warning": 1, "critical": 1}
    )
    earlier = service.alert_board(db, area_code=None, at=NOW - 4 * H)
    assert earlier == service.AlertCounts(
        active=1, by_severity={"info": 0, "warning": 1, "critical": 0}
    )
    # the cleared one ended exactly then; the critical one had not started
    assert service.alert_board(db, area_code=None, at=NOW - 3 * H).active == 0
    assert service.alert_board(db, area_code=None, at=NOW - 45 * MIN).by_severity == {
        "info": 0,
        "warning": 1,
        "critical": 1,
    }


def test_alerts_are_counted_in_a_district_a_subdistrict_or_a_grid_cell(
    db: Session, alerts: dict[str, Alert], sensors: Sensors
) -> None:
    east = service.alert_board(db, area_code="TC-E")
    assert (east.active, east.by_severity["warning"], east.by_severity["info"]) == (2, 1, 1)
    assert service.alert_board(db, area_code=sensors.east_grid).active == 2
    west_south = service.alert_board(db, area_code="TC-W-S")
    assert (west_south.active, west_south.by_severity["critical"]) == (1, 1)
    assert service.alert_board(db, area_code="TC-W-N").active == 0
    assert service.alert_board(db, area_code="TC").active == 3


def test_active_alert_points_are_most_severe_first_with_their_place(
    db: Session, alerts: dict[str, Alert], sensors: Sensors
) -> None:
    points = service.active_alert_points(db, area_code=None)
    assert [p.id for p in points] == [alerts[k].id for k in ("critical", "warning", "info")]
    warning = points[1]
    assert warning.severity == "warning"
    assert warning.acknowledged_at == NOW - 30 * MIN
    assert warning.datastream_id == sensors.east.datastream_id
    assert warning.datastream_name == "East gauge water level"
    assert (warning.lon, warning.lat) == EAST_NORTH
    assert (warning.district_code, warning.grid_code) == ("TC-E", sensors.east_grid)
    assert warning.case_category is None
    assert points[0].case_category == "FLOODING"  # what the page preselects for a dispatch
    assert warning.case_id is None
    assert [p.id for p in service.active_alert_points(db, area_code="TC-W")] == [
        alerts["critical"].id
    ]
    assert len(service.active_alert_points(db, area_code=None, limit=1)) == 1


def test_reporting_counts_public_datastreams_with_a_recent_reading(
    db: Session, sensors: Sensors
) -> None:
    city = service.reporting(db, area_code=None, now=NOW)
    assert city == service.Reporting(datastreams=4, reporting=2, pct=50.0)  # pump left out
    assert service.reporting(db, area_code="TC-W", now=NOW) == service.Reporting(2, 1, 50.0)
    assert service.reporting(db, area_code="TC-E-N", now=NOW) == service.Reporting(2, 1, 50.0)
    wider = service.reporting(db, area_code="TC-E", now=NOW, window=4 * H)
    assert wider == service.Reporting(2, 2, 100.0)
    assert service.reporting(db, area_code="TC-W-N", now=NOW) == service.Reporting(0, 0, None)
    # the thermometer's reading comes after this `now`: only the west gauge counts
    assert service.reporting(db, area_code=None, now=NOW - 8 * MIN).reporting == 1


def test_reporting_at_a_past_instant_is_read_from_the_hourly_rollups(
    db: Session, sensors: Sensors
) -> None:
    assert service.reporting_at(db, area_code=None, at=NOW) == service.Reporting(4, 2, 50.0)
    # two hours earlier only the east gauge (read three hours before NOW) had spoken
    earlier = service.reporting_at(db, area_code=None, at=NOW - 2 * H)
    assert earlier == service.Reporting(4, 1, 25.0)
    assert service.reporting_at(db, area_code="TC-W", at=NOW - 2 * H).reporting == 0
    assert service.reporting_at(db, area_code=None, at=NOW - 5 * H).reporting == 0


def test_sensor_points_show_the_latest_public_values_of_one_property(
    db: Session, sensors: Sensors
) -> None:
    layer = service.sensor_points(db, area_code=None, observed_property=None)
    assert layer.properties == ["air temperature", "water level"]  # not the restricted pressure
    # the silent gauge has no reading yet: two water-level datastreams speak
    assert service.property_counts(db, area_code=None) == {"air temperature": 1, "water level": 2}
    assert service.property_counts(db, area_code="TC-W") == {"water level": 1}
    assert layer.observed_property == "air temperature"
    [point] = layer.points
    assert point.datastream_id == sensors.thermometer.datastream_id
    assert (point.thing_name, point.datastream_name) == (
        "Thermometer",
        "Thermometer air temperature",
    )
    assert (point.value, point.unit, point.phenomenon_time) == (21.5, "cm", NOW - 5 * MIN)
    assert (point.lon, point.lat) == EAST_NORTH
    water = service.sensor_points(db, area_code=None, observed_property="water level")
    assert [(p.datastream_id, p.value) for p in water.points] == [
        (sensors.west.datastream_id, 12.5),
        (sensors.east.datastream_id, 30.0),
    ]
    west = service.sensor_points(db, area_code="TC-W-S", observed_property="water level")
    assert west.properties == ["water level"]
    assert [p.datastream_id for p in west.points] == [sensors.west.datastream_id]
    hidden = service.sensor_points(db, area_code=None, observed_property="pressure")
    assert (hidden.observed_property, hidden.points) == ("pressure", [])
    nothing = service.sensor_points(db, area_code="TC-W-N", observed_property=None)
    assert nothing == service.SensorLayer(properties=[], observed_property="", points=[])


def test_bad_sensor_filters_get_clear_errors(db: Session, sensors: Sensors) -> None:
    with pytest.raises(InvalidInput, match=r"no observed property named 'humidity'.*water level"):
        service.sensor_points(db, area_code=None, observed_property="humidity")
    with pytest.raises(InvalidInput, match="no area with the code 'XX'"):
        service.reporting(db, area_code="XX", now=NOW)
    with pytest.raises(InvalidInput, match="no area with the code 'XX'"):
        service.alert_board(db, area_code="XX")


def test_a_dispatched_case_is_linked_to_its_alert_once_audited_and_announced(
    db: Session, alerts: dict[str, Alert], sensors: Sensors
) -> None:
    alert = alerts["critical"]
    case = cases_service.open_case(
        db,
        cases_service.CaseInput(service_code="FLOODING", lon=WEST_SOUTH[0], lat=WEST_SOUTH[1]),
        actor=ACTOR,
        policy=cases_service.CasePolicy(base_url="http://testserver"),
        now=NOW,
    )
    db.commit()
    seen: list[dict[str, Any]] = []
    unsubscribe = events.subscribe("sensing.alert", lambda _topic, payload: seen.append(payload))
    try:
        linked = service.link_case(db, alert_id=alert.id, case_id=case.id, actor=ACTOR)
        assert linked.case_id == case.id
        assert seen == []  # only after commit
        db.commit()
    finally:
        unsubscribe()
    assert [(p["id"], p["case"]) for p in seen] == [(alert.id, case.id)]
    db.expire_all()
    assert db.get(Alert, alert.id).case_id == case.id  # type: ignore[union-attr]
    [entry] = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "sensing.alert.link_case")
    ).all()
    assert entry.entity_id == str(alert.id)
    with pytest.raises(Conflict, match=f"already has case {case.id}"):
        service.link_case(db, alert_id=alert.id, case_id=case.id, actor=ACTOR)
    db.rollback()
    with pytest.raises(NotFound, match="no alert 999999"):
        service.link_case(db, alert_id=999999, case_id=case.id, actor=ACTOR)
    with pytest.raises(NotFound):
        service.link_case(db, alert_id=alerts["info"].id, case_id=999999, actor=ACTOR)
    assert service.active_alert_points(db, area_code="TC-W")[0].case_id == case.id
