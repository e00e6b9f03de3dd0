"""Importing value files into the database: the service, the upload API and the real sheet."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.assessment import importers, service
from cityos.assessment.models import AssessUnit, IndicatorValue
from cityos.auth.models import User
from cityos.errors import InvalidInput, PayloadTooLarge
from tests.assessment.api_support import ANALYST, analyst, sign_in
from tests.assessment.conftest import ACTOR, small_document

__all__ = ["analyst"]

LONG = (
    "unit,name_en,region,population,year,indicator,value\n"
    "alpha,Alpha,east,2000000,2024,T.A1,80\n"
    "alpha,Alpha,east,2000000,2024,T.A2,30\n"
    "beta,Beta,west,1000000,2024,T.A1,70\n"
    "beta,Beta,west,1000000,2024,T.A2,--\n"
)
WIDE_BY_NAME = "unit,year,Resolved on time,Hours to resolve\nalpha,2025,85,25\nbeta,2025,72,45\n"
NOT_A_NUMBER = "unit,year,indicator,value\nalpha,2024,T.A1,80\nalpha,2024,T.A2,thirty\n"
NO_HEADER = "city name;score\nAlpha;1\n"


def _count(db: Session, model: type) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _read(text: str, name: str = "values.csv") -> importers.ImportedValues:
    return service.read_import(text.encode(), filename=name, max_bytes=1_000_000)


def test_a_long_file_creates_its_units_and_values(db: Session) -> None:
    report = service.import_values(db, imported=_read(LONG), actor=ACTOR)
    assert (report.written, report.units_created) == (3, 2)
    alpha = service.get_unit(db, code="alpha")
    assert (alpha.name_en, alpha.region, alpha.attributes["population"]) == (
        "Alpha",
        "east",
        2_000_000.0,
    )
    rows = service.list_values(db, unit_code="beta")
    assert [(r.indicator_code, r.value, r.source) for r in rows] == [
        ("T.A1", 70.0, "import:values.csv")
    ]


def test_a_wide_file_is_matched_to_a_frameworks_codes_by_name(db: Session) -> None:
    service.save_framework(db, document=small_document(), actor=ACTOR)
    framework = service.get_framework(db, code="T")
    report = service.import_values(
        db, imported=_read(WIDE_BY_NAME), framework=framework, actor=ACTOR
    )
    assert report.written == 4
    assert {r.indicator_code for r in service.list_values(db)} == {"T.A1", "T.A2"}


def test_keys_that_match_no_indicator_are_left_out_and_listed(db: Session) -> None:
    service.save_framework(db, document=small_document(), actor=ACTOR)
    text = "unit,year,Resolved on time,Happiness\nalpha,2025,85,7\n"
    report = service.import_values(
        db,
        imported=_read(text),
        framework=service.get_framework(db, code="T"),
        actor=ACTOR,
    )
    assert report.written == 1
    assert any("'Happiness' matches no indicator of T" in p for p in report.problems)


def test_a_file_with_a_non_number_is_refused_whole(db: Session) -> None:
    with pytest.raises(InvalidInput, match="thirty"):
        service.import_values(db, imported=_read(NOT_A_NUMBER), actor=ACTOR)
    assert _count(db, IndicatorValue) == 0
    assert _count(db, AssessUnit) == 0


def test_a_header_that_cannot_be_understood_says_what_is_accepted(db: Session) -> None:
    with pytest.raises(InvalidInput, match="Cannot understand the header"):
        _read(NO_HEADER)


def test_uploads_are_checked_by_name_and_size_before_reading() -> None:
    with pytest.raises(InvalidInput, match=r"upload a \.csv, \.xlsx or \.xls"):
        service.check_upload("values.txt", size=10, max_bytes=100)
    with pytest.raises(PayloadTooLarge, match="larger than"):
        service.check_upload("values.csv", size=101, max_bytes=100)
    with pytest.raises(InvalidInput, match="empty"):
        service.read_import(b"", filename="values.csv", max_bytes=100)
    assert service.check_upload("../../etc/passwd.csv", size=1, max_bytes=100) == "passwd.csv"
    assert service.check_upload("C:\\data\\cpi.xls", size=1, max_bytes=100) == "cpi.xls"


def test_the_un_habitat_sheet_fills_the_leading_peers(db: Session, shared_dir: Path) -> None:
    sheet = shared_dir / "data" / "cities" / "un-habitat-cpi-2016.xls"
    imported = service.read_import(
        sheet.read_bytes(), filename=sheet.name, max_bytes=50 * 1024 * 1024
    )
    report = service.import_values(db, imported=imported, actor=ACTOR)
    assert report.units_created == len(imported.units)
    group = service.ensure_default_peers(db, actor=ACTOR)
    assert service.get_unit(db, code="london-united-kingdom").name_zh == "伦敦"
    for code in group.members:
        assert service.list_values(db, unit_code=code, limit=1), f"{code} has no values"
    matrix = service.coverage_of(
        db, framework_code="un-habitat-cpi", unit_set=group.members, year=None
    )
    assert all(unit["pct"] and unit["pct"] > 50 for unit in matrix.to_dict()["units"])


# --- the upload API ----------------------------------------------------------------------


def test_an_uploaded_file_is_imported(client: TestClient, db: Session, analyst: User) -> None:
    headers = sign_in(client, ANALYST)
    response = client.post(
        "/api/assess/values/import",
        files={"file": ("../secret/values.csv", LONG.encode(), "text/csv")},
        headers=headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["layout"], body["written"], body["units_created"], body["years"]) == (
        "long",
        3,
        2,
        [2024],
    )
    sources = {v["source"] for v in client.get("/api/assess/values").json()["values"]}
    assert sources == {"import:values.csv"}


def test_bad_uploads_write_nothing(client: TestClient, db: Session, analyst: User) -> None:
    headers = sign_in(client, ANALYST)
    url = "/api/assess/values/import"
    wrong_type = client.post(url, files={"file": ("v.txt", b"x", "text/plain")}, headers=headers)
    assert wrong_type.status_code == 400
    not_number = client.post(
        url, files={"file": ("v.csv", NOT_A_NUMBER.encode(), "text/csv")}, headers=headers
    )
    assert not_number.status_code == 400
    assert "thirty" in not_number.json()["error"]["message"]
    header = client.post(
        url, files={"file": ("v.csv", NO_HEADER.encode(), "text/csv")}, headers=headers
    )
    assert header.status_code == 400
    unknown_framework = client.post(
        url,
        params={"framework": "NOPE"},
        files={"file": ("v.csv", LONG.encode(), "text/csv")},
        headers=headers,
    )
    assert unknown_framework.status_code == 404
    settings = client.app.state.settings  # type: ignore[attr-defined]
    client.app.state.settings = settings.model_copy(update={"max_upload_mb": 0.0001})  # type: ignore[attr-defined]
    too_large = client.post(
        url, files={"file": ("v.csv", LONG.encode() * 10, "text/csv")}, headers=headers
    )
    assert too_large.status_code == 413
    assert _count(db, IndicatorValue) == 0
    assert _count(db, AssessUnit) == 0
