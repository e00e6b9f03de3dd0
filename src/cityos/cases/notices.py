"""``cases.changed``: one event per case change, published on the in-process bus after commit.

The payload is small and public-safe (no contact data)::

    {"id": 17, "kind": "submitted" | "status" | "note" | "transfer" | "assign" | ...,
     "status": "acknowledged", "status_from": "submitted" | None, "category": "POTHOLE",
     "category_name_en": "Pothole", "category_name_zh": "坑洼",
     "priority": "normal", "department_id": 3 | None, "source": "web",
     "lon": 116.4, "lat": 39.9, "district_id": 2 | None, "grid_id": 40 | None,
     "requested_at": "2026-11-21T10:00:00+00:00"}

Bulk imports write with SQLAlchemy Core and announce nothing: a live screen would only
flicker through a historical load.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cityos import events
from cityos.cases.models import Case

TOPIC = "cases.changed"


def payload(case: Case, *, kind: str, status_from: str | None = None) -> dict[str, Any]:
    category = case.category  # one look-up by key at most (usually already in the session)
    return {
        "id": case.id,
        "kind": kind,
        "status": case.status,
        "status_from": status_from,
        "category": category.service_code if category is not None else None,
        "category_name_en": category.name_en if category is not None else None,
        "category_name_zh": category.name_zh if category is not None else None,
        "priority": case.priority,
        "department_id": case.department_id,
        "source": case.source,
        "lon": case.lon,
        "lat": case.lat,
        "district_id": case.district_id,
        "grid_id": case.grid_id,
        "requested_at": case.requested_at.isoformat() if case.requested_at else None,
    }


def announce(db_session: Session, case: Case, *, kind: str, status_from: str | None = None) -> None:
    """Tell live pages about this change of ``case`` once the transaction commits."""
    events.publish_after_commit(
        db_session, TOPIC, payload(case, kind=kind, status_from=status_from)
    )
