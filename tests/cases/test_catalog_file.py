"""The catalog as a document: import (all-or-nothing), export, YAML and JSON files."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.cases import catalog, catalog_file, routing
from cityos.cases.models import Category, RoutingRule
from cityos.errors import InvalidInput, Unprocessable
from tests.cases.conftest import ACTOR, CATALOG, CatalogFixture


def counts(db: Session) -> tuple[int, int, int]:
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(Category)) or 0,
        db.scalar(select(func.count()).select_from(RoutingRule)) or 0,
        db.scalar(select(func.count()).select_from(AuditEntry)) or 0,
    )


def problems_of(error: pytest.ExceptionInfo[Unprocessable]) -> dict[str, str]:
    return {problem["where"]: problem["message"] for problem in error.value.details}


def document_with_rules() -> dict[str, Any]:
    data = copy.deepcopy(CATALOG)
    data["routing"] = [
        {"service_code": "FLOODING", "area": "TC", "department": "WATER"},
        {"service_code": "FLOODING", "area": "TC-E-N", "department": "CMB", "note": "east"},
        {"service_code": "NOISE", "area": "TC-W", "department": "CMB"},
    ]
    return data


def test_export_then_import_then_export_gives_the_same_document(
    db: Session, services: CatalogFixture
) -> None:
    first = catalog_file.export_document(db)
    assert [c["service_code"] for c in first["categories"]] == ["FLOODING", "NOISE", "POTHOLE"]
    assert first["routing"] == [
        {"service_code": "FLOODING", "area": "TC", "department": "WATER", "note": ""},
        {"service_code": "FLOODING", "area": "TC-E-N", "department": "CMB", "note": ""},
    ]
    audit_before = counts(db)[2]
    report = catalog_file.import_document(db, first, actor=ACTOR)
    assert (report.categories_unchanged, report.rules_unchanged) == (3, 2)
    assert (report.categories_created, report.categories_updated, report.rules_set) == (0, 0, 0)
    assert counts(db)[2] == audit_before  # nothing changed, nothing audited
    assert catalog_file.export_document(db) == first


def test_a_document_survives_a_yaml_file_and_a_json_file(
    db: Session, services: CatalogFixture, tmp_path: Path
) -> None:
    document = catalog_file.export_document(db)
    for name in ("catalog.yaml", "catalog.yml", "catalog.json"):
        catalog_file.dump_file(document, tmp_path / name)
        assert catalog_file.load_file(tmp_path / name) == document
    yaml_text = (tmp_path / "catalog.yaml").read_text("utf-8")
    assert "路面坑洞" in yaml_text  # Chinese stays readable, not \u escapes
    assert yaml_text.index("groups:") < yaml_text.index("categories:") < yaml_text.index("routing")
    assert "路面坑洞" in (tmp_path / "catalog.json").read_text("utf-8")


def test_import_creates_groups_categories_and_rules_and_audits_them(
    db: Session, services: CatalogFixture
) -> None:
    data = document_with_rules()
    data["groups"].append({"code": "lighting", "name_zh": "路灯", "name_en": "Lighting"})
    data["categories"].append(
        {
            "service_code": "LIGHT-OUT",
            "group": "lighting",
            "name_zh": "路灯不亮",
            "name_en": "Streetlight out",
            "keywords": ["路灯", "streetlight"],
            "department": "WATER",
            "sla": {"normal": {"acknowledge_hours": 12, "resolve_hours": 72}},
        }
    )
    data["categories"][2]["name_en"] = "Noise nuisance"  # NOISE changes
    data["routing"].append({"service_code": "LIGHT-OUT", "area": "TC-E", "department": "CMB"})
    report = catalog_file.import_document(db, data, actor=ACTOR)
    assert report.categories_created == 1
    assert report.categories_updated == 1
    assert report.categories_unchanged == 2
    assert (report.rules_set, report.rules_unchanged) == (3, 1)  # TC-E-N's note changed
    assert catalog.get_category(db, service_code="LIGHT-OUT").group.code == "lighting"
    assert catalog.get_category(db, service_code="NOISE").name_en == "Noise nuisance"
    rules = {(r.service_code, r.area_code): r for r in routing.list_rules(db)}
    assert rules[("FLOODING", "TC-E-N")].note == "east"
    assert rules[("LIGHT-OUT", "TC-E")].department_code == "CMB"
    actions = set(db.scalars(select(AuditEntry.action)).all())
    assert {"cases.catalog.import", "cases.category.create", "cases.rule.set"} <= actions


def test_a_rule_may_name_a_service_that_is_only_in_the_database(
    db: Session, services: CatalogFixture
) -> None:
    data = {"routing": [{"service_code": "POTHOLE", "area": "TC-W", "department": "WATER"}]}
    report = catalog_file.import_document(db, data, actor=ACTOR)
    assert report.rules_set == 1
    assert counts(db)[0] == 3


def test_replace_rules_deletes_the_rules_the_document_does_not_list(
    db: Session, services: CatalogFixture
) -> None:
    data = copy.deepcopy(CATALOG)
    data["routing"] = [{"service_code": "FLOODING", "area": "TC", "department": "WATER"}]
    kept = catalog_file.import_document(db, data, actor=ACTOR)
    assert kept.rules_deleted == 0
    assert len(routing.list_rules(db)) == 2
    replaced = catalog_file.import_document(db, data, actor=ACTOR, replace_rules=True)
    assert replaced.rules_deleted == 1
    assert [(r.service_code, r.area_code) for r in routing.list_rules(db)] == [("FLOODING", "TC")]


def test_a_bad_document_lists_every_problem_with_its_place_and_writes_nothing(
    db: Session, services: CatalogFixture
) -> None:
    data = document_with_rules()
    data["groups"].append({"code": "roads", "name_zh": "道路", "name_en": "Roads again"})
    pothole = data["categories"][0]
    pothole["department"] = "NOPE"
    pothole["attributes"][0]["values"] = []  # a list without values
    pothole["attributes"][1]["values"] = [{"key": "1", "name_zh": "一", "name_en": "One"}]
    data["categories"].append(dict(data["categories"][1]))  # FLOODING twice
    data["categories"].append(
        {"service_code": "LOST", "group": "nowhere", "name_zh": "丢失", "name_en": "Lost"}
    )
    data["routing"] += [
        {"service_code": "FLOODING", "area": "TC-NOWHERE", "department": "WATER"},
        {"service_code": "GHOST", "area": "TC", "department": "FIRE"},
        {"service_code": "FLOODING", "area": "TC", "department": "CMB"},
    ]
    before = counts(db)
    with pytest.raises(Unprocessable) as error:
        catalog_file.import_document(db, data, actor=ACTOR)
    problems = problems_of(error)
    assert "nothing was imported" in error.value.message
    assert (
        "a singlevaluelist attribute needs a list of values"
        in (problems["categories[0] (POTHOLE).attributes[0] (size)"])
    )
    assert (
        "only list attributes have values"
        in (problems["categories[0] (POTHOLE).attributes[1] (depth_cm)"])
    )
    assert "unknown department code 'NOPE'" in problems["categories[0] (POTHOLE).department"]
    assert "appears twice" in problems["categories[3] (FLOODING).service_code"]
    assert "appears twice" in problems["groups[3] (roads).code"]
    assert "unknown group 'nowhere'" in problems["categories[4] (LOST).group"]
    assert "unknown area code 'TC-NOWHERE'" in problems["routing[3] (FLOODING).area"]
    assert "unknown service_code 'GHOST'" in problems["routing[4] (GHOST).service_code"]
    assert "unknown department code 'FIRE'" in problems["routing[4] (GHOST).department"]
    assert "a second rule for FLOODING in TC" in problems["routing[5] (FLOODING)"]
    assert counts(db) == before


def test_problems_are_found_in_a_document_that_is_not_even_a_mapping(db: Session) -> None:
    with pytest.raises(Unprocessable) as error:
        catalog_file.import_document(db, ["not", "a", "catalog"], actor=ACTOR)
    assert error.value.details[0]["where"] == "document"


def test_files_with_an_unknown_suffix_or_broken_syntax_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"name the file \*\.yaml, \*\.yml or \*\.json"):
        catalog_file.load_file(tmp_path / "catalog.txt")
    with pytest.raises(InvalidInput, match="name the file"):
        catalog_file.dump_file({}, tmp_path / "catalog.xml")
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("groups:\n  - code: roads\n    name_zh: [道路\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"broken\.yaml is not valid YAML: .* at line \d+"):
        catalog_file.load_file(broken_yaml)
    broken_json = tmp_path / "broken.json"
    broken_json.write_text('{"groups": [\n  {"code": "roads",}\n]}', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"broken\.json is not valid JSON: .* line 2"):
        catalog_file.load_file(broken_json)
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"name": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8"):
        catalog_file.load_file(latin)


def test_yaml_words_like_yes_and_no_stay_text_after_a_round_trip(
    db: Session, services: CatalogFixture, tmp_path: Path
) -> None:
    data = copy.deepcopy(CATALOG)
    data["categories"][0]["attributes"][0]["values"] = [
        {"key": "yes", "name_zh": "是", "name_en": "Yes"},
        {"key": "no", "name_zh": "否", "name_en": "No"},
    ]
    catalog_file.import_document(db, data, actor=ACTOR)
    path = tmp_path / "catalog.yaml"
    catalog_file.dump_file(catalog_file.export_document(db), path)
    again = catalog_file.load_file(path)
    values = again["categories"][2]["attributes"][0]["values"]
    assert [value["key"] for value in values] == ["yes", "no"]
    assert [value["name_en"] for value in values] == ["Yes", "No"]


def test_saving_one_category_names_the_fields_of_its_problems(
    db: Session, services: CatalogFixture
) -> None:
    form = {
        "service_code": "POTHOLE",
        "group": "roads",
        "name_zh": "坑",
        "name_en": "Hole",
        "department": "NOPE",
        "attributes": [{"code": "kind", "datatype": "multivaluelist", "description_zh": "种类"}],
    }
    with pytest.raises(Unprocessable) as error:
        catalog_file.save_category(db, form, actor=ACTOR, create=True)
    problems = problems_of(error)
    assert "exists" in problems["service_code"]
    assert "unknown department code" in problems["department"]
    assert "Field required" in problems["attributes[0] (kind).description_en"]
