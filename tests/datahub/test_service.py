"""Datasets: metadata, schema versions, search with facets, usage."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from cityos.auth.models import User
from cityos.datahub import physical, service
from cityos.datahub.models import Access, Resource
from cityos.errors import Conflict, InvalidInput, NotFound, Unprocessable
from tests.datahub.conftest import TEST_ACTOR, MakeDataset

SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string", "constraints": {"maxLength": 50}},
        {"name": "beds", "type": "integer"},
    ],
    "primaryKey": ["id"],
}
ROWS = [{"id": 1, "name": "North", "beds": 120}, {"id": 2, "name": "South", "beds": 80}]


def test_dataset_is_created_with_its_table_resource_and_audited(
    db: Session, make_dataset: MakeDataset
) -> None:
    dataset = make_dataset(name="hospitals", descriptor=SCHEMA, rows=ROWS, themes=["HEAL"])
    assert dataset.schema_version == 1
    assert dataset.row_count == 2
    table = service.table_resource(db, dataset=dataset)
    assert isinstance(table, Resource)
    assert service.get_resource(db, uuid=table.uuid).dataset_id == dataset.id
    assert service.get_dataset(db, name="hospitals").themes == ["HEAL"]


def test_bad_metadata_lists_every_problem(db: Session, people: dict[str, User]) -> None:
    data = {
        "name": "Bad Name!",
        "title_en": "",
        "themes": ["NOPE"],
        "licence": "mine",
        "access": "secret",
        "temporal_start": "2024-13-01",
        "contact_email": "nobody",
        "colour": "red",
    }
    with pytest.raises(Unprocessable) as caught:
        service.create_dataset(db, data=data, department_code="CMB", actor=TEST_ACTOR)
    places = {problem["where"] for problem in caught.value.details}
    assert places >= {
        "name",
        "title_en",
        "themes",
        "licence",
        "access",
        "temporal_start",
        "contact_email",
        "colour",
    }


def test_a_reserved_or_taken_name_is_refused(db: Session, make_dataset: MakeDataset) -> None:
    make_dataset(name="parks", descriptor=SCHEMA)
    with pytest.raises(Conflict, match="exists already"):
        service.create_dataset(
            db, data={"name": "parks", "title_en": "Parks"}, department_code="CMB", actor=TEST_ACTOR
        )
    with pytest.raises(Unprocessable, match="reserved"):
        service.create_dataset(
            db, data={"name": "infer", "title_en": "X"}, department_code="CMB", actor=TEST_ACTOR
        )


def test_unknown_dataset_says_where_to_look(db: Session) -> None:
    with pytest.raises(NotFound, match="GET /api/data"):
        service.get_dataset(db, name="nothing-here")


def test_an_added_optional_field_keeps_the_stored_rows(
    db: Session, make_dataset: MakeDataset
) -> None:
    dataset = make_dataset(name="hospitals", descriptor=SCHEMA, rows=ROWS)
    wider = {**SCHEMA, "fields": [*SCHEMA["fields"], {"name": "phone", "type": "string"}]}
    version = service.set_schema(db, name="hospitals", descriptor=wider, actor=TEST_ACTOR)
    assert version.version == 2
    assert dataset.row_count == 2
    schema = service.current_schema(db, dataset=dataset)
    assert schema is not None
    assert schema.names == ["id", "name", "beds", "phone"]
    table = physical.table_for(schema, dataset_id=dataset.id, version=2)
    rows = db.execute(table.select().order_by(table.c["_row"])).all()
    assert [(row.f0, row.f1, row.f3) for row in rows] == [(1, "North", None), (2, "South", None)]


def test_a_breaking_change_is_refused_until_a_migration_is_chosen(
    db: Session, make_dataset: MakeDataset
) -> None:
    dataset = make_dataset(name="hospitals", descriptor=SCHEMA, rows=ROWS)
    narrower = {**SCHEMA, "fields": SCHEMA["fields"][:2]}
    with pytest.raises(Conflict, match="break the 2 stored rows"):
        service.set_schema(db, name="hospitals", descriptor=narrower, actor=TEST_ACTOR)
    assert dataset.schema_version == 1
    service.set_schema(
        db, name="hospitals", descriptor=narrower, actor=TEST_ACTOR, migration="empty"
    )
    assert dataset.schema_version == 2
    assert dataset.row_count == 0


def test_the_same_schema_again_makes_no_new_version(db: Session, make_dataset: MakeDataset) -> None:
    dataset = make_dataset(name="hospitals", descriptor=SCHEMA)
    service.set_schema(db, name="hospitals", descriptor=SCHEMA, actor=TEST_ACTOR)
    assert dataset.schema_version == 1
    assert len(service.schema_versions(db, dataset=dataset)) == 1


def test_deleting_a_dataset_drops_its_tables(db: Session, make_dataset: MakeDataset) -> None:
    dataset = make_dataset(name="hospitals", descriptor=SCHEMA, rows=ROWS)
    name = physical.table_name(dataset.id, 1)
    assert name in inspect(db.connection()).get_table_names()
    service.delete_dataset(db, name="hospitals", actor=TEST_ACTOR)
    db.commit()
    assert name not in inspect(db.connection()).get_table_names()
    assert service.find_dataset(db, name="hospitals") is None


def test_search_matches_every_word_and_counts_facets(
    db: Session, make_dataset: MakeDataset, people: dict[str, User]
) -> None:
    make_dataset(name="hospitals", descriptor=SCHEMA, themes=["HEAL"], keywords=["beds"])
    make_dataset(name="clinics", descriptor=SCHEMA, themes=["HEAL"], department="WATER")
    make_dataset(name="bus-stops", descriptor=SCHEMA, themes=["TRAN"])
    make_dataset(name="payroll", descriptor=SCHEMA, access=Access.RESTRICTED.value)

    anonymous = service.search(db, user=None)
    assert {d.name for d in anonymous.datasets} == {"hospitals", "clinics", "bus-stops"}
    signed_in = service.search(db, user=people["cmb"])
    assert signed_in.total == 4

    health = service.search(db, user=None, filters={"theme": ["HEAL"]})
    assert {d.name for d in health.datasets} == {"hospitals", "clinics"}
    themes = {facet.value: facet.count for facet in health.facets["theme"]}
    assert themes == {"HEAL": 2, "TRAN": 1}  # a facet counts as if its own filter were off
    departments = {facet.value: facet.count for facet in health.facets["department"]}
    assert departments == {"CMB": 1, "WATER": 1}

    assert [d.name for d in service.search(db, user=None, q="beds hospitals").datasets] == [
        "hospitals"
    ]
    assert service.search(db, user=None, q="beds bus").total == 0
    by_name = service.search(db, user=None, sort="name", limit=2)
    assert [d.name for d in by_name.datasets] == ["bus-stops", "clinics"]
    assert by_name.total == 3


def test_search_refuses_an_unknown_sort(db: Session) -> None:
    with pytest.raises(InvalidInput, match="sort"):
        service.search(db, user=None, sort="colour")


def test_usage_is_counted_per_day(db: Session, make_dataset: MakeDataset) -> None:
    dataset = make_dataset(name="hospitals", descriptor=SCHEMA)
    service.record_usage(db, dataset=dataset, api_calls=1)
    service.record_usage(db, dataset=dataset, api_calls=1)
    service.record_usage(db, dataset=dataset, downloads=1)
    assert service.usage_totals(db, dataset=dataset) == (1, 2)


def test_search_by_keywords_needs_every_keyword(db: Session, make_dataset: MakeDataset) -> None:
    make_dataset(name="hospitals", descriptor=SCHEMA, keywords=["beds", "Health"])
    make_dataset(name="clinics", descriptor=SCHEMA, keywords=["health"])
    both = service.search(db, user=None, filters={"keyword": ["health", "beds"]})
    assert [d.name for d in both.datasets] == ["hospitals"]
    health = service.search(db, user=None, filters={"keyword": ["HEALTH"]})
    assert {d.name for d in health.datasets} == {"hospitals", "clinics"}
    assert {f.value: f.count for f in health.facets["keyword"]} == {"beds": 1, "health": 2}


def test_one_title_is_enough(db: Session, people: dict[str, User]) -> None:
    dataset = service.create_dataset(
        db, data={"name": "trees", "title_zh": "行道树"}, department_code="CMB", actor=TEST_ACTOR
    )
    assert (dataset.title_zh, dataset.title_en, dataset.description_en) == ("行道树", "", "")


def test_clearing_one_title_keeps_the_other(db: Session, make_dataset: MakeDataset) -> None:
    make_dataset(name="trees", descriptor=SCHEMA, title_en="Trees", title_zh="行道树")
    dataset = service.update_dataset(db, name="trees", changes={"title_zh": ""}, actor=TEST_ACTOR)
    assert (dataset.title_zh, dataset.title_en) == ("", "Trees")
    with pytest.raises(Unprocessable, match="needs a title"):
        service.update_dataset(db, name="trees", changes={"title_en": ""}, actor=TEST_ACTOR)


def test_declared_indexes_are_built_and_checked(db: Session, make_dataset: MakeDataset) -> None:
    indexed = {
        **SCHEMA,
        "fields": [*SCHEMA["fields"], {"name": "ward", "type": "string", "filterable": True}],
        "indexes": [["ward", "beds"]],
    }
    dataset = make_dataset(name="hospitals", descriptor=indexed)
    found = inspect(db.connection()).get_indexes(physical.table_name(dataset.id, 1))
    columns = sorted(tuple(index["column_names"]) for index in found)
    assert ("f3", "f2") in columns
    assert ("f3",) not in columns  # the composite index serves filters on ward too
    with pytest.raises(Unprocessable) as caught:
        service.set_schema(
            db, name="hospitals", descriptor={**indexed, "indexes": [["wrd"]]}, actor=TEST_ACTOR
        )
    assert caught.value.details[0]["where"] == "indexes[0][0]"
