"""Database fixtures: every database test runs on SQLite and on PostgreSQL.

SQLite: each test gets a copy of a freshly migrated database file.
PostgreSQL: one schema per test run, migrated once; every table is emptied after each test.
Without PostgreSQL the PostgreSQL half is skipped, unless ``CI=true`` (then it fails).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.orm import Session

from cityos.app import create_app
from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.config import Settings, get_settings
from cityos.db import Base, make_engine, make_session_factory, upgrade

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get(
    "CITYOS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def need_service(reason: str) -> None:
    """Skip with ``reason``; in CI a missing service is a failure instead."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required services must be up)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present (sample data lives outside the project)")
    return SHARED


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "cityos.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated schema of its own in the test database."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # pragma: no cover - depends on the machine
        admin.dispose()
        need_service(f"PostgreSQL is not reachable at {POSTGRES_URL}: {type(error).__name__}")
    schema = f"cityos_test_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _empty_postgres(engine: Engine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # the data hub's per-dataset row tables are made at run time
        for name in inspect(connection).get_table_names():
            if name.startswith("dh_"):
                connection.execute(text(f'DROP TABLE "{name}"'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a clean, migrated database: one per backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "cityos.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_url")
    yield url
    engine = make_engine(url)
    _empty_postgres(engine)
    engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    session = make_session_factory(engine)()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key-not-for-production",
        base_url="http://testserver",
        map_tile_url="",
        default_language="en",
        worker_interval_seconds=0,  # tests run the worker's passes themselves
    )


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


# --- accounts ----------------------------------------------------------------------------

PASSWORD = "correct horse battery"


@pytest.fixture
def people(db: Session) -> dict[str, User]:
    """An admin, and staff of two departments (CMB and WATER)."""
    actor = Actor.system("test")
    auth_service.create_department(
        db, code="CMB", name_zh="城市管理局", name_en="City Management", actor=actor
    )
    auth_service.create_department(
        db, code="WATER", name_zh="水务局", name_en="Water Authority", actor=actor
    )
    made = {
        "admin": auth_service.create_user(
            db, email="admin@example.org", password=PASSWORD, roles=["admin"], actor=actor
        ),
        "cmb": auth_service.create_user(
            db,
            email="staff.cmb@example.org",
            password=PASSWORD,
            roles=["staff"],
            department_code="CMB",
            actor=actor,
        ),
        "water": auth_service.create_user(
            db,
            email="staff.water@example.org",
            password=PASSWORD,
            roles=["staff"],
            department_code="WATER",
            actor=actor,
        ),
    }
    db.commit()
    return made


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the ``cityos`` command at the test database."""
    monkeypatch.setenv("CITYOS_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()
