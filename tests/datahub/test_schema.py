"""Table Schema descriptors: resolving data elements, keys, and every problem with its place;
and which schema changes break stored rows."""

from __future__ import annotations

from typing import Any

import pytest

from cityos.datahub.compat import breaking_changes
from cityos.datahub.schema_parse import parse_schema
from cityos.datahub.tableschema import Check, Constraints, FieldType, TableSchema
from cityos.errors import Unprocessable
from tests.datahub.elements_support import builtin_elements, element

ELEMENTS = builtin_elements()


def parse(descriptor: dict[str, Any], **kwargs: Any) -> TableSchema:
    return parse_schema(descriptor, elements=ELEMENTS, **kwargs)


def problems_of(descriptor: dict[str, Any], **kwargs: Any) -> list[dict[str, str]]:
    with pytest.raises(Unprocessable) as caught:
        parse(descriptor, **kwargs)
    assert caught.value.status_code == 422
    details: list[dict[str, str]] = caught.value.details
    return details


def one(fields: list[Any], **schema: Any) -> dict[str, Any]:
    return {"fields": fields, **schema}


# --- resolving ----------------------------------------------------------------------------


def test_a_plain_schema_resolves_types_formats_constraints_and_keys() -> None:
    schema = parse(
        {
            "fields": [
                {"name": "id", "type": "integer"},
                {"name": "name", "type": "string", "constraints": {"maxLength": 50}},
                {"name": "opened", "type": "date", "format": "%Y/%m/%d"},
                {"name": "score", "type": "number", "constraints": {"minimum": 0}},
                {"name": "where", "type": "geopoint", "filterable": True},
            ],
            "primaryKey": "id",
            "uniqueKeys": [["name", "opened"]],
            "missingValues": ["", "NA"],
        }
    )
    assert schema.names == ["id", "name", "opened", "score", "where"]
    assert schema.field("opened").format == "%Y/%m/%d"
    assert schema.field("name").constraints.max_length == 50
    assert schema.field("where").filterable
    assert schema.field("where").columns == ("f4_lon", "f4_lat")
    assert schema.primary_key == ("id",)
    assert schema.unique_keys == (("name", "opened"),)
    assert schema.missing_values == ("", "NA")


def test_primary_key_fields_are_required() -> None:
    schema = parse(one([{"name": "a"}, {"name": "b"}], primaryKey=["a", "b"]))
    assert schema.field("a").constraints.required
    assert schema.field("b").constraints.required


def test_a_field_without_type_is_a_string() -> None:
    assert parse(one([{"name": "note"}])).field("note").type is FieldType.STRING


def test_a_field_inherits_its_elements_type_constraints_sensitivity_and_mask() -> None:
    schema = parse(
        one(
            [
                {"name": "code", "element": "uscc"},
                {"name": "mobile", "element": "mobile_cn"},
                {"name": "who", "element": "person_name"},
                {"name": "money", "element": "amount_cny"},
                {"name": "where", "element": "geopoint"},
            ]
        )
    )
    code = schema.field("code")
    assert code.type is FieldType.STRING
    assert code.constraints.check is Check.USCC
    assert code.constraints.pattern is not None
    assert not code.sensitive
    mobile = schema.field("mobile")
    assert (mobile.sensitive, mobile.mask) == (True, "partial")
    who = schema.field("who")
    assert (who.sensitive, who.mask) == (True, None)  # no mask: removed for others
    assert schema.field("money").type is FieldType.NUMBER
    assert schema.field("money").constraints.minimum == 0
    assert schema.field("where").type is FieldType.GEOPOINT
    assert code.element == "uscc"


def test_a_field_may_narrow_its_elements_constraints() -> None:
    schema = parse(
        one(
            [
                {
                    "name": "share",
                    "element": "percentage",
                    "type": "number",
                    "constraints": {"required": True, "maximum": 50, "minimum": 10},
                },
                {"name": "day", "element": "date", "format": "%d.%m.%Y"},
            ]
        )
    )
    share = schema.field("share").constraints
    assert (share.required, share.minimum, share.maximum) == (True, 10, 50)
    assert schema.field("day").format == "%d.%m.%Y"


def test_a_field_may_mark_itself_sensitive_with_a_partial_mask() -> None:
    field = parse(one([{"name": "note", "sensitive": True, "mask": "partial"}])).field("note")
    assert (field.sensitive, field.mask) == (True, "partial")


def test_the_resolved_descriptor_parses_back_to_the_same_schema() -> None:
    schema = parse(
        {
            "fields": [
                {"name": "id", "type": "string", "constraints": {"enum": ["a", "b"]}},
                {"name": "m", "element": "mobile_cn", "constraints": {"required": True}},
                {"name": "day", "type": "date", "constraints": {"minimum": "2020-01-01"}},
                {"name": "p", "element": "percentage", "title": "Share", "description": "…"},
            ],
            "primaryKey": ["id"],
            "foreignKeys": [{"fields": "m", "reference": {"resource": "", "fields": "m"}}],
            "missingValues": ["", "-"],
        }
    )
    assert parse(schema.to_descriptor()) == schema


def test_a_foreign_key_to_another_dataset_is_resolved_through_the_lookup() -> None:
    districts = parse(one([{"name": "code", "element": "district_code"}], primaryKey="code"))
    schema = parse(
        one(
            [{"name": "district", "element": "district_code"}, {"name": "n", "type": "integer"}],
            foreignKeys=[
                {"fields": ["district"], "reference": {"resource": "districts", "fields": "code"}}
            ],
        ),
        other_datasets=lambda name: districts if name == "districts" else None,
    )
    (key,) = schema.foreign_keys
    assert (key.fields, key.resource, key.reference_fields) == (
        ("district",),
        "districts",
        ("code",),
    )


def test_a_custom_element_is_inherited_like_a_builtin() -> None:
    elements = {
        **ELEMENTS,
        "bridge_id": element(
            code="bridge_id",
            name_zh="桥梁编号",
            name_en="Bridge id",
            type="string",
            constraints={"pattern": r"^BR\d{4}$"},
            example="BR0001",
        ),
    }
    schema = parse_schema(one([{"name": "bridge", "element": "bridge_id"}]), elements=elements)
    assert schema.field("bridge").constraints.pattern == r"^BR\d{4}$"


# --- problems -------------------------------------------------------------------------------

BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("empty name", one([{"name": " "}]), "fields[0].name", "non-empty name"),
    ("missing name", one([{"type": "string"}]), "fields[0].name", "non-empty name"),
    ("long name", one([{"name": "x" * 101}]), "fields[0].name", "at most 100"),
    ("reserved name", one([{"name": "__row"}]), "fields[0].name", "reserved"),
    (
        "duplicate name",
        one([{"name": "a"}, {"name": "a"}]),
        "fields[1].name",
        "already the name of fields[0]",
    ),
    ("field not an object", one(["a"]), "fields[0]", "must be an object"),
    ("unknown type", one([{"name": "a", "type": "integr"}]), "fields[0].type", "unknown type"),
    ("unknown field key", one([{"name": "a", "colour": 1}]), "fields[0].colour", "unknown key"),
    (
        "date format without directives",
        one([{"name": "a", "type": "date", "format": "dd/mm/yyyy"}]),
        "fields[0].format",
        "strptime pattern",
    ),
    (
        "date format polars can't read",
        one([{"name": "a", "type": "date", "format": "%Q-%m"}]),
        "fields[0].format",
        "can't read a date",
    ),
    (
        "unknown string format",
        one([{"name": "a", "format": "phone"}]),
        "fields[0].format",
        "email, uri, uuid",
    ),
    (
        "format on an integer",
        one([{"name": "a", "type": "integer", "format": "%d"}]),
        "fields[0].format",
        "no formats",
    ),
    (
        "constraints not an object",
        one([{"name": "a", "constraints": ["required"]}]),
        "fields[0].constraints",
        "object of constraints",
    ),
    (
        "unknown constraint",
        one([{"name": "a", "constraints": {"maxSize": 3}}]),
        "fields[0].constraints.maxSize",
        "unknown constraint",
    ),
    (
        "minLength on an integer",
        one([{"name": "a", "type": "integer", "constraints": {"minLength": 2}}]),
        "fields[0].constraints.minLength",
        "doesn't apply to a integer field",
    ),
    (
        "minimum on a string",
        one([{"name": "a", "constraints": {"minimum": 2}}]),
        "fields[0].constraints.minimum",
        "doesn't apply to a string field",
    ),
    (
        "pattern on a number",
        one([{"name": "a", "type": "number", "constraints": {"pattern": "^1"}}]),
        "fields[0].constraints.pattern",
        "doesn't apply",
    ),
    (
        "maximum of the wrong kind",
        one([{"name": "a", "type": "integer", "constraints": {"maximum": "ten"}}]),
        "fields[0].constraints.maximum",
        'must be an integer (got "ten")',
    ),
    (
        "impossible date minimum",
        one([{"name": "a", "type": "date", "constraints": {"minimum": "2024-13-01"}}]),
        "fields[0].constraints.minimum",
        "must be a date like 2024-01-31",
    ),
    (
        "required not a boolean",
        one([{"name": "a", "constraints": {"required": "yes"}}]),
        "fields[0].constraints.required",
        "true or false",
    ),
    (
        "negative maxLength",
        one([{"name": "a", "constraints": {"maxLength": -1}}]),
        "fields[0].constraints.maxLength",
        "whole number ≥ 0",
    ),
    (
        "minLength above maxLength",
        one([{"name": "a", "constraints": {"minLength": 5, "maxLength": 2}}]),
        "fields[0].constraints.minLength",
        "greater than maxLength",
    ),
    (
        "minimum above maximum",
        one(
            [
                {
                    "name": "a",
                    "type": "date",
                    "constraints": {"minimum": "2024-02-01", "maximum": "2024-01-01"},
                }
            ]
        ),
        "fields[0].constraints.minimum",
        "greater than maximum",
    ),
    (
        "pattern that does not compile",
        one([{"name": "a", "constraints": {"pattern": "([a-z]"}}]),
        "fields[0].constraints.pattern",
        "not a valid regular expression",
    ),
    (
        "pattern polars can't run",
        one([{"name": "a", "constraints": {"pattern": r"(?<=A)\d+"}}]),
        "fields[0].constraints.pattern",
        "look-around",
    ),
    (
        "empty enum",
        one([{"name": "a", "constraints": {"enum": []}}]),
        "fields[0].constraints.enum",
        "non-empty list",
    ),
    (
        "enum member of the wrong type",
        one([{"name": "a", "type": "integer", "constraints": {"enum": [1, "2"]}}]),
        "fields[0].constraints.enum[1]",
        "must be an integer",
    ),
    (
        "unknown check",
        one([{"name": "a", "constraints": {"check": "iban"}}]),
        "fields[0].constraints.check",
        "uscc, id_card_cn, area_code",
    ),
    (
        "unknown element",
        one([{"name": "a", "element": "ussc"}]),
        "fields[0].element",
        "did you mean uscc",
    ),
    (
        "type differing from the element's",
        one([{"name": "a", "element": "uscc", "type": "integer"}]),
        "fields[0].type",
        "the data element uscc is of type string",
    ),
    (
        "loosening an element's maximum",
        one([{"name": "a", "element": "percentage", "constraints": {"maximum": 200}}]),
        "fields[0].constraints.maximum",
        "can only narrow it",
    ),
    (
        "loosening an element's minimum",
        one([{"name": "a", "element": "amount_cny", "constraints": {"minimum": -5}}]),
        "fields[0].constraints.minimum",
        "can only narrow it",
    ),
    (
        "replacing an element's pattern",
        one([{"name": "a", "element": "mobile_cn", "constraints": {"pattern": r"^\d+$"}}]),
        "fields[0].constraints.pattern",
        "can't replace it",
    ),
    (
        "changing an element's format",
        one([{"name": "a", "element": "email", "format": "uri"}]),
        "fields[0].format",
        "has format",
    ),
    (
        "making a sensitive element public",
        one([{"name": "a", "element": "id_card_cn", "sensitive": False}]),
        "fields[0].sensitive",
        "can't make it public",
    ),
    (
        "mask on a public field",
        one([{"name": "a", "mask": "partial"}]),
        "fields[0].mask",
        '"sensitive": true',
    ),
    (
        "unknown mask",
        one([{"name": "a", "sensitive": True, "mask": "hash"}]),
        "fields[0].mask",
        '"partial"',
    ),
    (
        "sensitive not a boolean",
        one([{"name": "a", "sensitive": "yes"}]),
        "fields[0].sensitive",
        "true or false",
    ),
    (
        "filterable JSON field",
        one([{"name": "a", "type": "object", "filterable": True}]),
        "fields[0].filterable",
        "can't be filterable",
    ),
    ("no fields", {"fields": []}, "fields", "non-empty list"),
    ("fields missing", {}, "fields", "non-empty list"),
    ("unknown schema key", one([{"name": "a"}], primarykey="a"), "primarykey", "unknown key"),
    (
        "primary key naming nothing",
        one([{"name": "id"}], primaryKey=["ID"]),
        "primaryKey[0]",
        'no field named "ID" in this schema; did you mean "id"?',
    ),
    (
        "primary key of the wrong kind",
        one([{"name": "id"}], primaryKey=5),
        "primaryKey",
        "field name",
    ),
    (
        "geopoint in a primary key",
        one([{"name": "p", "type": "geopoint"}], primaryKey="p"),
        "primaryKey[0]",
        "can't be a key",
    ),
    (
        "unique key naming nothing",
        one([{"name": "a"}], uniqueKeys=[["a", "b"]]),
        "uniqueKeys[0][1]",
        'no field named "b"',
    ),
    (
        "foreign key from nothing",
        one(
            [{"name": "a"}],
            foreignKeys=[{"fields": "x", "reference": {"resource": "", "fields": "a"}}],
        ),
        "foreignKeys[0].fields[0]",
        'no field named "x"',
    ),
    (
        "foreign key to nothing in this schema",
        one(
            [{"name": "a"}],
            foreignKeys=[{"fields": "a", "reference": {"resource": "", "fields": "z"}}],
        ),
        "foreignKeys[0].reference.fields[0]",
        'no field named "z"',
    ),
    (
        "foreign key to a missing dataset",
        one(
            [{"name": "a"}],
            foreignKeys=[{"fields": "a", "reference": {"resource": "nope", "fields": "a"}}],
        ),
        "foreignKeys[0].reference.resource",
        'no dataset named "nope"',
    ),
    (
        "foreign key with a reference of another type",
        one(
            [{"name": "a"}, {"name": "n", "type": "integer"}],
            foreignKeys=[{"fields": "a", "reference": {"resource": "", "fields": "n"}}],
        ),
        "foreignKeys[0].reference.fields[0]",
        "the types must match",
    ),
    (
        "foreign key with a different field count",
        one(
            [{"name": "a"}, {"name": "b"}],
            foreignKeys=[{"fields": ["a", "b"], "reference": {"resource": "", "fields": "a"}}],
        ),
        "foreignKeys[0].reference.fields",
        "one per key field",
    ),
    (
        "foreign key without a reference",
        one([{"name": "a"}], foreignKeys=[{"fields": "a"}]),
        "foreignKeys[0].reference",
        "resource and fields",
    ),
    (
        "missing values not strings",
        one([{"name": "a"}], missingValues=["", 0]),
        "missingValues",
        "list of strings",
    ),
]


@pytest.mark.parametrize(
    ("descriptor", "where", "message"),
    [pytest.param(d, w, m, id=kind) for kind, d, w, m in BAD],
)
def test_a_bad_schema_is_refused_naming_the_place_and_the_fix(
    descriptor: dict[str, Any], where: str, message: str
) -> None:
    problems = problems_of(descriptor)
    matching = [p for p in problems if p["where"] == where]
    assert matching, f"no problem at {where}: {problems}"
    assert any(message in p["message"] for p in matching), matching


def test_a_descriptor_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(Unprocessable, match="must be an object with a fields list"):
        parse_schema(["a"], elements=ELEMENTS)  # type: ignore[arg-type]


def test_every_problem_is_reported_at_once_and_the_message_names_the_first() -> None:
    with pytest.raises(Unprocessable) as caught:
        parse(
            one(
                [
                    {"name": "a", "type": "integr"},
                    {"name": "b", "type": "integer", "constraints": {"maximum": "x"}},
                    {"name": "c", "element": "nope"},
                ],
                primaryKey="zz",
            )
        )
    error = caught.value
    assert [p["where"] for p in error.details] == [
        "fields[0].type",
        "fields[1].constraints.maximum",
        "fields[2].element",
        "primaryKey[0]",
    ]
    assert error.message.startswith("The schema has 4 problems: fields[0].type: unknown type")
    assert "and 3 more" in error.message


def test_a_key_on_a_field_with_its_own_problem_reports_only_the_field() -> None:
    problems = problems_of(one([{"name": "id", "type": "integr"}], primaryKey="id"))
    assert [p["where"] for p in problems] == ["fields[0].type"]


def test_a_foreign_key_to_another_dataset_without_a_lookup_is_refused() -> None:
    descriptor = one(
        [{"name": "a"}],
        foreignKeys=[{"fields": "a", "reference": {"resource": "x", "fields": "a"}}],
    )
    problems = problems_of(descriptor)
    assert problems[0]["where"] == "foreignKeys[0].reference.resource"


def test_a_foreign_key_to_another_datasets_missing_field_names_it() -> None:
    other = parse(one([{"name": "code"}]))
    descriptor = one(
        [{"name": "a"}],
        foreignKeys=[{"fields": "a", "reference": {"resource": "areas", "fields": "cod"}}],
    )
    problems = problems_of(descriptor, other_datasets=lambda name: other)
    assert problems == [
        {
            "where": "foreignKeys[0].reference.fields[0]",
            "message": 'no field named "cod" in this schema; did you mean "code"?',
        }
    ]


# --- compatibility between versions ----------------------------------------------------------

BASE: dict[str, Any] = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string", "constraints": {"maxLength": 50}},
        {"name": "size", "type": "integer", "constraints": {"minimum": 0}},
        {"name": "kind", "type": "string", "constraints": {"enum": ["a", "b", "c"]}},
        {"name": "day", "type": "date", "constraints": {"maximum": "2030-01-01"}},
    ],
    "primaryKey": "id",
}


def changed(**replacements: dict[str, Any]) -> TableSchema:
    fields = [replacements.get(f["name"], f) for f in BASE["fields"]]
    return parse({**BASE, "fields": [f for f in fields if f]})


def test_adding_an_optional_field_loosening_and_retitling_are_not_breaking() -> None:
    old = parse(BASE)
    new = parse(
        {
            **BASE,
            "fields": [
                {"name": "id", "type": "integer", "title": "Identifier"},
                {"name": "name", "type": "string", "constraints": {"maxLength": 80}},
                {"name": "size", "type": "number"},  # integer → number, no minimum
                {"name": "kind", "type": "string", "constraints": {"enum": ["a", "b", "c", "d"]}},
                {"name": "note", "type": "string", "description": "new, optional"},
                {"name": "day", "type": "date", "format": "%Y/%m/%d"},
            ],
        }
    )
    assert breaking_changes(old, new) == []
    assert breaking_changes(old, old) == []


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        pytest.param(changed(size={}), 'field "size" was removed', id="removed"),
        pytest.param(
            changed(size={"name": "area", "type": "integer"}),
            'field "size" was removed (renamed to "area"?)',
            id="renamed",
        ),
        pytest.param(
            changed(size={"name": "size", "type": "string"}),
            'field "size" changes type from integer to string',
            id="type",
        ),
        pytest.param(
            changed(name={"name": "name", "constraints": {"maxLength": 20}}),
            'field "name": maxLength tightened from 50 to 20',
            id="maxLength",
        ),
        pytest.param(
            changed(size={"name": "size", "type": "integer", "constraints": {"minimum": 5}}),
            'field "size": minimum tightened from 0 to 5',
            id="minimum",
        ),
        pytest.param(
            changed(day={"name": "day", "type": "date", "constraints": {"maximum": "2025-01-01"}}),
            'field "day": maximum tightened from "2030-01-01" to "2025-01-01"',
            id="date-maximum",
        ),
        pytest.param(
            changed(name={"name": "name", "constraints": {"maxLength": 50, "required": True}}),
            'field "name" becomes required',
            id="required",
        ),
        pytest.param(
            changed(name={"name": "name", "constraints": {"maxLength": 50, "pattern": "^[a-z]+$"}}),
            'field "name" gets the pattern',
            id="pattern",
        ),
        pytest.param(
            changed(kind={"name": "kind", "constraints": {"enum": ["a", "b"]}}),
            'field "kind" no longer allows ["c"]',
            id="enum",
        ),
        pytest.param(
            changed(name={"name": "name", "element": "uscc"}),
            'field "name" gets the uscc check',
            id="check",
        ),
        pytest.param(
            changed(name={"name": "name", "constraints": {"maxLength": 50, "unique": True}}),
            'field "name" becomes unique',
            id="unique",
        ),
    ],
)
def test_a_change_that_stored_rows_may_not_survive_is_breaking(
    new: TableSchema, expected: str
) -> None:
    messages = breaking_changes(parse(BASE), new)
    assert any(expected in message for message in messages), messages


def test_a_new_required_field_is_breaking() -> None:
    new = parse(
        {**BASE, "fields": [*BASE["fields"], {"name": "x", "constraints": {"required": True}}]}
    )
    assert breaking_changes(parse(BASE), new) == [
        'new field "x" is required, but the stored rows have no value for it '
        "(make it optional, or start the new version empty)"
    ]


def test_key_changes_are_breaking_unless_already_unique() -> None:
    old = parse(BASE)
    other_key = parse({**BASE, "primaryKey": ["name"]})
    assert any(
        "primary key changes from (id) to (name)" in m for m in breaking_changes(old, other_key)
    )
    wider_key = parse({**BASE, "primaryKey": ["id", "size"]})
    assert not any("primary key" in m for m in breaking_changes(old, wider_key))
    unique = parse({**BASE, "uniqueKeys": [["name", "kind"]]})
    assert breaking_changes(old, unique) == [
        "new unique key (name, kind): stored rows may repeat it"
    ]
    foreign = parse(
        {**BASE, "foreignKeys": [{"fields": "size", "reference": {"resource": "", "fields": "id"}}]}
    )
    assert breaking_changes(old, foreign) == [
        "new foreign key (size) → this dataset (id): stored rows may reference nothing"
    ]
    assert breaking_changes(old, parse({**BASE, "primaryKey": None})) == []


def test_constraints_of_a_parsed_field_are_plain_values() -> None:
    field = parse(one([{"name": "n", "type": "number", "constraints": {"maximum": 1.5}}])).field(
        "n"
    )
    assert field.constraints == Constraints(maximum=1.5)
