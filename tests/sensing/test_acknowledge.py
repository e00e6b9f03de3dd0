"""Acknowledging an alert is decided in the UPDATE itself: of two operators acknowledging at
once only the first succeeds (the second gets 409), and only the winner is audited and
announced. Linking a dispatched case announces the alert with ``case_linked``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cityos import events
from cityos.audit.models import AuditEntry
from cityos.cases import service as cases_service
from cityos.db import make_session_factory
from cityos.errors import Conflict
from cityos.sensing import service
from cityos.sensing.models import Alert
from tests.cases.conftest import CatalogFixture, city, services
from tests.sensing.alerts_support import ACTOR, T0, WEST_SOUTH, feed, make_gauge, make_rule

__all__ = ["city", "services"]


@pytest.fixture
def alert(db: Session, services: CatalogFixture) -> Alert:
    """An active, unacknowledged alert on a gauge in TC-W-S (committed)."""
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id)
    feed(db, gauge.datastream_id, [30], start=T0)
    db.commit()
    [raised] = service.list_alerts(db).alerts
    return raised


@pytest.fixture
def heard() -> Any:
    seen: list[dict[str, Any]] = []
    unsubscribe = events.subscribe("sensing.alert", lambda _topic, payload: seen.append(payload))
    yield seen
    unsubscribe()


def acknowledgements(db: Session) -> list[AuditEntry]:
    db.expire_all()
    query = select(AuditEntry).where(AuditEntry.action == "sensing.alert.acknowledge")
    return list(db.scalars(query))


def test_of_two_operators_acknowledging_at_once_only_the_first_succeeds(
    db: Session, engine: Engine, alert: Alert, heard: list[dict[str, Any]]
) -> None:
    # The second operator read the alert (unacknowledged) before the first one's commit.
    seen_by_second = service.get_alert(db, alert_id=alert.id)
    assert seen_by_second.acknowledged_at is None
    db.commit()  # the session keeps its (now stale) copy
    with make_session_factory(engine)() as first:
        service.acknowledge(first, alert_id=alert.id, user_id=None, actor=ACTOR, now=T0)
        first.commit()
    assert seen_by_second.acknowledged_at is None  # still stale: only the UPDATE can tell
    with pytest.raises(Conflict, match=f"Alert {alert.id} was already acknowledged at 2026-"):
        service.acknowledge(db, alert_id=alert.id, user_id=None, actor=ACTOR, now=T0)
    db.commit()  # nothing of the loser's is written or announced
    assert [entry.entity_id for entry in acknowledgements(db)] == [str(alert.id)]
    assert [(p["id"], p.get("acknowledged")) for p in heard] == [(alert.id, True)]
    acknowledged = service.get_alert(db, alert_id=alert.id)
    assert acknowledged.acknowledged_at == T0


def test_a_linked_case_is_announced_as_such_not_as_a_new_alert(
    db: Session, alert: Alert, heard: list[dict[str, Any]]
) -> None:
    case = cases_service.open_case(
        db,
        cases_service.CaseInput(service_code="FLOODING", lon=WEST_SOUTH[0], lat=WEST_SOUTH[1]),
        actor=ACTOR,
        policy=cases_service.CasePolicy(base_url="http://testserver"),
        now=T0,
    )
    service.link_case(db, alert_id=alert.id, case_id=case.id, actor=ACTOR)
    db.commit()
    [payload] = heard
    assert (payload["id"], payload["case"], payload["case_linked"]) == (alert.id, case.id, True)
    assert "acknowledged" not in payload
