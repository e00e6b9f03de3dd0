"""Signing in to the assessment API in tests: an analyst, and the browser's CSRF header."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from tests.conftest import PASSWORD, csrf_from, login

ANALYST = "analyst@example.org"


def sign_in(client: TestClient, email: str) -> dict[str, str]:
    """Sign in as ``email``; the headers a browser's script sends (the CSRF token)."""
    token = csrf_from(client.get("/login").text)
    assert login(client, email).status_code == 303
    return {"X-CSRF-Token": token}


@pytest.fixture
def analyst(db: Session, people: dict[str, User]) -> User:
    """A user with the analyst role (besides the admin and staff of ``people``), committed."""
    user = auth_service.create_user(
        db, email=ANALYST, password=PASSWORD, roles=["analyst"], actor=Actor.system("test")
    )
    db.commit()
    return user
