"""Helpers of the staff queue, case page and staff API tests."""

from __future__ import annotations

import io
from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.cases import service
from cityos.cases.models import Case
from tests.cases.conftest import WEST_POINT
from tests.conftest import PASSWORD, csrf_from

POLICY = service.CasePolicy(base_url="http://testserver")
SYSTEM = Actor.system("test")
HTML = {"accept": "text/html"}


def open_case(
    db: Session,
    code: str = "POTHOLE",
    point: tuple[float, float] = WEST_POINT,
    *,
    now: datetime | None = None,
    description: str = "Deep hole",
    email: str | None = "reporter@example.org",
) -> Case:
    """A case opened by the system (no rate limit), committed."""
    case = service.open_case(
        db,
        service.CaseInput(
            service_code=code,
            lon=point[0],
            lat=point[1],
            description=description,
            attributes={"size": "large", "hazards": ["traffic"]} if code == "POTHOLE" else {},
            contact_email=email,
            contact_phone="+86 571 0000 0000" if email else None,
        ),
        actor=SYSTEM,
        policy=POLICY,
        now=now,
    )
    db.commit()
    return case


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (12, 8), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def make_user(db: Session, email: str, roles: list[str], department: str | None = None) -> User:
    user = auth_service.create_user(
        db,
        email=email,
        password=PASSWORD,
        roles=roles,
        department_code=department,
        actor=SYSTEM,
    )
    db.commit()
    return user


def bearer(db: Session, user: User) -> dict[str, str]:
    """Headers with a fresh API key of ``user``."""
    _, raw = auth_service.create_api_key(db, user=user, name="tests", actor=SYSTEM)
    db.commit()
    return {"authorization": f"Bearer {raw}"}


def page_token(client: TestClient, url: str = "/staff/cases") -> str:
    """The CSRF token of a staff page (the client must be signed in)."""
    return csrf_from(client.get(url, headers=HTML).text)


def fresh(db: Session, case: Case) -> Case:
    """``case`` as the web app left it (after the app's own session committed)."""
    db.expire_all()
    found = db.get(Case, case.id)
    assert found is not None
    return found
