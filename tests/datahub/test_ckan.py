"""The CKAN Action API: CKAN's envelope and errors, packages, search with fq and facets,
organizations, groups, resources and the datastore — as anonymous and signed-in callers."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.orm import Session

from cityos.auth.models import User
from cityos.datahub import ckan_params, service
from cityos.datahub.ckan_params import Resolver
from cityos.errors import CityOSError
from tests.datahub.ckan_support import Catalog, api_key, make_catalog, table_id
from tests.datahub.conftest import TEST_ACTOR, MakeDataset

BASE = "http://testserver"


@pytest.fixture
def catalog(make_dataset: MakeDataset) -> Catalog:
    return make_catalog(make_dataset)


def call(
    client: TestClient, action: str, headers: dict[str, str] | None = None, **params: Any
) -> Response:
    """POST the parameters as JSON, as ckanapi does."""
    return client.post(f"/api/3/action/{action}", json=params, headers=headers or {})


def result(answer: Response) -> Any:
    body = answer.json()
    assert answer.status_code == 200, body
    assert body["success"] is True
    assert body["help"].startswith(f"{BASE}/api/3/action/help_show?name=")
    return body["result"]


def error(answer: Response, status: int, kind: str) -> dict[str, Any]:
    body = answer.json()
    assert answer.status_code == status, body
    assert body["success"] is False
    assert body["error"]["__type"] == kind
    found: dict[str, Any] = body["error"]
    return found


# --- envelope and routing ----------------------------------------------------------------


def test_actions_answer_at_both_paths_for_get_post_and_form(
    client: TestClient, catalog: Catalog
) -> None:
    by_get = result(client.get("/api/3/action/package_list"))
    short = result(client.get("/api/action/package_list"))
    by_json = result(call(client, "package_list"))
    by_form = result(client.post("/api/action/package_show", data={"id": "hospitals"}))

    assert by_get == short == by_json == ["air-quality", "hospitals"]
    assert by_form["name"] == "hospitals"


def test_unknown_action_is_a_bad_request_in_ckans_words(client: TestClient) -> None:
    answer = client.get("/api/3/action/package_explode")
    found = error(answer, 400, "Bad Request")
    assert found["message"] == "Bad request - Action name not known: package_explode"


def test_a_body_that_is_not_json_is_a_bad_request(client: TestClient) -> None:
    answer = client.post(
        "/api/3/action/package_list",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert "JSON Error" in error(answer, 400, "Bad Request")["message"]
    listed = client.post("/api/3/action/package_list", json=["a"])
    assert "needs to be a dictionary" in error(listed, 400, "Bad Request")["message"]


def test_site_status_and_help(client: TestClient) -> None:
    status = result(client.get("/api/3/action/status_show"))
    assert status["site_url"] == BASE
    assert "datastore" in status["extensions"]
    assert "rows" in result(client.get("/api/3/action/help_show?name=package_search"))
    assert result(client.get("/api/3/action/site_read")) is True


# --- packages ----------------------------------------------------------------------------


def test_package_show_gives_a_ckan_package_by_name_or_id(
    client: TestClient, db: Session, catalog: Catalog
) -> None:
    package = result(call(client, "package_show", id="air-quality"))
    by_id = result(call(client, "package_show", id=str(catalog.air.id)))

    assert by_id == package
    assert package["id"] == str(catalog.air.id)
    assert package["title"] == "Air quality by station"
    assert package["title_translated"] == {"zh": "空气质量站点监测", "en": "Air quality by station"}
    assert package["organization"]["name"] == "cmb"
    assert package["owner_org"] == "CMB"
    assert [g["name"] for g in package["groups"]] == ["envi", "heal"]
    assert [t["name"] for t in package["tags"]] == ["air", "pm25"]
    assert package["license_id"] == "CC-BY-4.0"
    assert package["isopen"] is True
    assert package["private"] is False
    assert package["metadata_modified"][:4].isdigit()
    assert "+" not in package["metadata_modified"]
    extras = {extra["key"]: extra["value"] for extra in package["extras"]}
    assert extras["frequency"] == "daily"
    assert extras["access_level"] == "open"
    assert extras["temporal_start"] == "2024-05-01"
    (table,) = package["resources"]
    assert table["id"] == table_id(db, catalog.air)
    assert table["datastore_active"] is True
    assert table["url"] == f"{BASE}/api/data/air-quality/download.csv"
    assert table["package_id"] == package["id"]
    assert package["num_resources"] == 1


def test_attached_files_are_resources_with_their_download_url(
    client: TestClient, db: Session, catalog: Catalog
) -> None:
    attached = service.attach_file(
        db, dataset=catalog.hospitals, filename="beds.pdf", content=b"%PDF-1", actor=TEST_ACTOR
    )
    db.commit()
    package = result(call(client, "package_show", id="hospitals"))
    pdf = package["resources"][1]
    assert pdf["format"] == "PDF"
    assert pdf["size"] == 6
    assert pdf["datastore_active"] is False
    assert pdf["url"] == f"{BASE}/api/data/hospitals/resources/{attached.uuid}"
    assert result(call(client, "resource_show", id=attached.uuid))["name"] == "beds.pdf"


def test_unknown_dataset_is_a_not_found_error(client: TestClient, catalog: Catalog) -> None:
    found = error(call(client, "package_show", id="nope"), 404, "Not Found Error")
    assert found["message"].startswith("Not found: ")
    assert "nope" in found["message"]
    missing_id = error(call(client, "package_show"), 409, "Validation Error")
    assert "Missing value" in missing_id["id"][0]


def test_restricted_dataset_is_an_authorization_error_for_anonymous_callers(
    client: TestClient, db: Session, catalog: Catalog
) -> None:
    found = error(call(client, "package_show", id="street-permits"), 403, "Authorization Error")
    assert "sign in" in found["message"]
    answer = call(client, "resource_show", id=table_id(db, catalog.permits))
    assert error(answer, 403, "Authorization Error")["message"].startswith("Access denied: ")


def test_an_api_key_shows_what_its_user_may_see(
    client: TestClient, db: Session, catalog: Catalog, people: dict[str, User]
) -> None:
    key = api_key(db, people["water"])
    for headers in (
        {"X-CKAN-API-Key": key},
        {"Authorization": key},
        {"Authorization": f"Bearer {key}"},
    ):
        package = result(call(client, "package_show", headers, id="street-permits"))
        assert package["private"] is True
    names = result(call(client, "package_list", {"Authorization": key}, include_private=True))
    assert names == ["air-quality", "budget", "hospitals", "street-permits"]
    # CKAN lists only public datasets unless include_private is true
    assert result(call(client, "package_list", {"Authorization": key})) == [
        "air-quality",
        "hospitals",
    ]


def test_a_bad_api_key_is_an_authorization_error_that_says_why(
    client: TestClient, catalog: Catalog
) -> None:
    found = error(
        call(client, "package_list", {"X-CKAN-API-Key": "not-a-key"}), 403, "Authorization Error"
    )
    assert "Malformed API key" in found["message"]


# --- search ------------------------------------------------------------------------------


def test_package_search_with_q_fq_sort_rows_and_start(client: TestClient, catalog: Catalog) -> None:
    everything = result(call(client, "package_search"))
    air = result(call(client, "package_search", q="pm2.5 stations"))
    health = result(call(client, "package_search", fq="groups:heal", sort="name asc"))
    paged = result(
        call(client, "package_search", fq="groups:heal", sort="name asc", rows=1, start=1)
    )
    by_org = result(
        call(client, "package_search", fq='+organization:water AND license_id:"CC0-1.0"')
    )

    assert everything["count"] == 2  # anonymous: the open datasets
    assert [p["name"] for p in air["results"]] == ["air-quality"]
    assert [p["name"] for p in health["results"]] == ["air-quality", "hospitals"]
    assert health["count"] == 2
    assert [p["name"] for p in paged["results"]] == ["hospitals"]
    assert [p["name"] for p in by_org["results"]] == ["hospitals"]


def test_package_search_filters_on_tags_formats_frequency_and_access(
    client: TestClient, db: Session, catalog: Catalog, people: dict[str, User]
) -> None:
    key = {"Authorization": api_key(db, people["admin"])}

    def names(**params: Any) -> list[str]:
        found = result(call(client, "package_search", key, sort="name asc", **params))
        return [p["name"] for p in found["results"]]

    assert names(fq="tags:air tags:pm25") == ["air-quality"]  # every tag
    assert names(fq="tags:air tags:health") == []
    assert names(fq="res_format:geojson") == ["air-quality"]
    assert names(fq="frequency:annual") == ["hospitals"]
    assert names(fq="access_level:restricted", include_private=True) == ["street-permits"]
    assert names(fq="capacity:private", include_private=True) == ["budget", "street-permits"]
    assert names(fq="groups:(econ OR gove)", include_private=True) == ["budget", "street-permits"]
    assert names(fq="dataset_type:dataset", include_private=True) == [
        "air-quality",
        "budget",
        "hospitals",
        "street-permits",
    ]
    assert names(fq="dataset_type:harvest") == []
    assert names(fq="access_level:restricted") == []  # private ones only on request


def test_package_search_counts_facets(client: TestClient, catalog: Catalog) -> None:
    found = result(
        client.get(
            "/api/3/action/package_search",
            params={"facet.field": json.dumps(["groups", "organization", "res_format"])},
        )
    )
    groups = found["search_facets"]["groups"]
    assert groups["title"] == "groups"
    assert groups["items"][0] == {"name": "heal", "display_name": "Health", "count": 2}
    assert found["facets"]["organization"] == {"cmb": 1, "water": 1}
    assert found["facets"]["res_format"]["CSV"] == 2
    assert found["facets"]["res_format"]["GEOJSON"] == 1
    with_tags = result(
        call(client, "package_search", fq="tags:air", **{"facet.field": ["license_id"]})
    )
    assert with_tags["facets"] == {"license_id": {"CC-BY-4.0": 1}}


def test_package_search_counts_facets_over_what_fq_leaves(
    client: TestClient, catalog: Catalog
) -> None:
    fields = {"facet.field": ["organization", "groups", "tags", "res_format"]}
    by_org = result(call(client, "package_search", fq="organization:cmb", **fields))
    by_group = result(call(client, "package_search", fq="groups:envi", **fields))
    paged = result(call(client, "package_search", sort="name asc", rows=1, start=1, **fields))

    assert by_org["facets"]["organization"] == {"cmb": 1}  # as CKAN: only what matched
    assert by_org["facets"]["groups"] == {"envi": 1, "heal": 1}
    assert by_group["facets"]["groups"] == {"envi": 1, "heal": 1}  # not hospitals' heal
    assert by_group["facets"]["res_format"]["GEOJSON"] == 1
    assert by_group["facets"]["tags"] == {"air": 1, "pm25": 1}
    assert [p["name"] for p in paged["results"]] == ["hospitals"]
    assert paged["count"] == 2
    assert paged["facets"]["tags"] == {"air": 1, "health": 1, "pm25": 1}  # every match


def test_package_search_tags_ignore_case_and_need_every_tag(
    client: TestClient, catalog: Catalog
) -> None:
    def names(fq: str) -> list[str]:
        return [p["name"] for p in result(call(client, "package_search", fq=fq))["results"]]

    assert names("tags:AIR") == ["air-quality"]
    assert names('tags:"Pm25" tags:air') == ["air-quality"]
    assert names("tags:(air OR health)") == []  # tags: every one, as the portal's keywords
    found = result(
        call(client, "package_search", fq="tags:Health", **{"facet.field": ["tags", "groups"]})
    )
    assert found["search_facets"]["tags"]["items"] == [
        {"name": "health", "display_name": "health", "count": 1}
    ]
    assert found["facets"]["groups"] == {"heal": 1}


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"rows": 1001}, "rows", "1000 or less"),
        ({"rows": "ten"}, "rows", "whole number"),
        ({"start": -1}, "start", "0 or more"),
        ({"fq": "colour:red"}, "fq", "cannot filter on 'colour'"),
        ({"fq": "groups:envi OR groups:heal"}, "fq", "cannot read"),
        ({"fq": "groups:envi AND"}, "fq", "ends with AND"),
        ({"fq": "frequency:hourly"}, "fq", "frequency is one of"),
        ({"facet.field": "groups"}, "facet.field", "not valid JSON"),
        ({"facet.field": '["colour"]'}, "facet.field", "cannot count 'colour'"),
        ({"sort": "colour asc"}, "sort", "cannot sort by"),
    ],
)
def test_bad_search_parameters_are_validation_errors_naming_the_parameter(
    client: TestClient, params: dict[str, Any], field: str, says: str
) -> None:
    found = error(
        client.get("/api/3/action/package_search", params=params), 409, "Validation Error"
    )
    assert says in found[field][0], found


# --- organizations and groups ------------------------------------------------------------


def test_organizations_are_the_departments(client: TestClient, catalog: Catalog) -> None:
    assert result(call(client, "organization_list")) == ["cmb", "water"]
    full = result(call(client, "organization_list", all_fields=True, sort="package_count desc"))
    assert [(o["name"], o["package_count"]) for o in full] == [("cmb", 1), ("water", 1)]
    assert full[0]["title"] == "City Management"
    assert result(call(client, "organization_list", limit=1, offset=1)) == ["water"]
    shown = result(call(client, "organization_show", id="CMB", include_datasets=True))
    assert shown["name"] == "cmb"
    assert [p["name"] for p in shown["packages"]] == ["air-quality"]
    missing = error(call(client, "organization_show", id="fire"), 404, "Not Found Error")
    assert "fire" in missing["message"]


def test_groups_are_the_eu_data_themes(client: TestClient, catalog: Catalog) -> None:
    names = result(call(client, "group_list"))
    assert len(names) == 13
    assert "envi" in names
    full = result(call(client, "group_list", all_fields=True, sort="package_count desc", limit=2))
    assert [(g["name"], g["package_count"]) for g in full] == [("heal", 2), ("envi", 1)]
    shown = result(call(client, "group_show", id="heal", include_datasets=True))
    assert shown["title_translated"]["zh"] == "卫生健康"
    assert [p["name"] for p in shown["packages"]] == ["air-quality", "hospitals"]
    error(call(client, "group_show", id="space"), 404, "Not Found Error")


# --- datastore ---------------------------------------------------------------------------


def test_datastore_search_filters_sorts_and_pages_rows(
    client: TestClient, db: Session, catalog: Catalog
) -> None:
    resource = table_id(db, catalog.air)
    first = result(
        call(
            client,
            "datastore_search",
            resource_id=resource,
            filters={"district": "Minghu"},
            sort="pm25 desc",
            fields=["station", "pm25"],
            limit=2,
        )
    )
    second = result(
        client.get(
            "/api/3/action/datastore_search",
            params={
                "resource_id": resource,
                "filters": json.dumps({"district": "Minghu"}),
                "sort": "pm25 desc",
                "fields": "station,pm25",
                "limit": 2,
                "offset": 2,
            },
        )
    )

    assert first["resource_id"] == resource
    assert first["fields"] == [
        {"id": "_id", "type": "int"},
        {"id": "station", "type": "text"},
        {"id": "pm25", "type": "numeric"},
    ]
    assert [r["pm25"] for r in first["records"]] == [41.0, 35.5]
    assert first["total"] == 3
    assert "offset=2" in first["_links"]["next"]
    assert [r["station"] for r in second["records"]] == ["South"]


def test_datastore_search_gives_each_row_its_stored_id_and_sorts_by_it(
    client: TestClient, db: Session, catalog: Catalog
) -> None:
    resource = table_id(db, catalog.air)

    def records(**params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = result(
            call(client, "datastore_search", resource_id=resource, **params)
        )["records"]
        return found

    stored = records()
    ids = {(r["station"], r["measured_on"]): r["_id"] for r in stored}
    by_pm25 = records(sort="pm25 desc", limit=2, offset=1)
    second_page = records(limit=2, offset=2)

    assert [r["_id"] for r in stored] == sorted(ids.values())  # the stored order
    assert len(set(ids.values())) == 4
    assert [r["_id"] for r in by_pm25] == [
        ids[("North", "2024-05-02")],
        ids[("North", "2024-05-01")],
    ]  # an id stays with its row, whatever the sort and the page
    assert second_page == stored[2:]
    assert records(sort="_id asc") == records(sort="_id") == stored
    assert records(sort="district desc, _id asc, pm25 desc") == records(sort="district desc")
    refused = error(
        call(client, "datastore_search", resource_id=resource, sort="_id desc"),
        409,
        "Validation Error",
    )
    assert "cannot sort by '_id desc'" in refused["sort"][0]


def test_datastore_search_takes_q_list_filters_and_counts_an_api_call(
    client: TestClient, db: Session, catalog: Catalog
) -> None:
    resource = table_id(db, catalog.air)
    by_q = result(call(client, "datastore_search", resource_id=resource, q="hexi"))
    by_list = result(
        call(
            client,
            "datastore_search",
            resource_id=resource,
            filters={"station": ["North", "East"]},
            include_total=False,
        )
    )
    assert [r["station"] for r in by_q["records"]] == ["East"]
    assert by_q["records"][0]["location"] == [114.4, 30.58]
    assert sorted(r["station"] for r in by_list["records"]) == ["East", "North", "North"]
    assert "total" not in by_list
    assert service.usage_totals(db, dataset=catalog.air) == (0, 2)


def test_datastore_search_keeps_sensitive_fields_from_other_departments(
    client: TestClient, db: Session, catalog: Catalog, people: dict[str, User]
) -> None:
    resource = table_id(db, catalog.permits)
    owner = result(
        call(
            client,
            "datastore_search",
            {"Authorization": api_key(db, people["cmb"])},
            resource_id=resource,
        )
    )
    other = error(
        call(
            client,
            "datastore_search",
            {"Authorization": api_key(db, people["water"])},
            resource_id=resource,
        ),
        403,
        "Authorization Error",
    )
    assert owner["records"][0]["holder"] == "Zhang San"
    assert "POST /api/data/street-permits/requests" in other["message"]


BAD_DATASTORE_PARAMS: list[tuple[dict[str, Any], str, str]] = [
    ({"limit": 1001}, "limit", "1000 or less"),
    ({"limit": "many"}, "limit", "whole number"),
    ({"filters": "{broken"}, "filters", "not valid JSON"),
    ({"filters": '["station"]'}, "filters", "JSON object"),
    ({"filters": '{"station": {"a": 1}}'}, "filters", "give a value or a list"),
    ({"sort": "pm25 upwards"}, "sort", "cannot read"),
    ({"sort": "pm25 asc, _id desc"}, "sort", "cannot sort by '_id desc'"),
    ({"records_format": "csv"}, "records_format", "only 'objects'"),
]


def test_bad_datastore_parameters_are_validation_errors_naming_the_parameter(
    client: TestClient, db: Session, catalog: Catalog
) -> None:
    resource = table_id(db, catalog.air)
    for params, field, says in BAD_DATASTORE_PARAMS:
        query = {"resource_id": resource, **params}
        answer = client.get("/api/3/action/datastore_search", params=query)
        found = error(answer, 409, "Validation Error")
        assert says in found[field][0], (params, found)


def test_unknown_fields_in_datastore_filters_are_validation_errors(
    client: TestClient, db: Session, catalog: Catalog
) -> None:
    answer = call(
        client, "datastore_search", resource_id=table_id(db, catalog.air), filters={"colour": "red"}
    )
    found = error(answer, 409, "Validation Error")
    assert "colour" in found["message"]


def test_datastore_search_on_an_unknown_or_file_resource_is_not_found(
    client: TestClient, db: Session, catalog: Catalog
) -> None:
    error(call(client, "datastore_search", resource_id="nope"), 404, "Not Found Error")
    attached = service.attach_file(
        db, dataset=catalog.air, filename="notes.txt", content=b"hello", actor=TEST_ACTOR
    )
    db.commit()
    found = error(
        call(client, "datastore_search", resource_id=attached.uuid), 404, "Not Found Error"
    )
    assert "attached file" in found["message"]


# --- parameter parsing (no database) -----------------------------------------------------


def test_fq_reads_quoted_values_groups_and_plus_signs() -> None:
    resolve = Resolver(["CMB", "WATER"])
    terms = ckan_params.parse_fq(
        '+organization:cmb AND tags:"air quality" groups:(envi OR "heal") res_format:csv',
        resolve=resolve,
    )
    assert terms.filters == {
        "department": ["CMB"],
        "keyword": ["air quality"],
        "theme": ["ENVI", "HEAL"],
        "format": ["CSV"],
    }
    assert not terms.nothing


def test_datastore_sort_becomes_the_rows_api_sort() -> None:
    assert ckan_params.datastore_sort("pm25 desc, station asc, _id") == "-pm25,station"
    assert ckan_params.datastore_sort("_id asc, pm25 desc") is None  # ids are unique
    with pytest.raises(CityOSError, match="_id desc"):
        ckan_params.datastore_sort("_id desc")
    with pytest.raises(CityOSError):
        ckan_params.datastore_sort("pm25 sideways")


def test_openapi_lists_each_ckan_action_operation_once(client: TestClient) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FastAPI warns "Duplicate Operation ID"
        spec = client.get("/openapi.json").json()
    operations = spec["paths"]["/api/3/action/{action}"]
    ids = [operation["operationId"] for operation in operations.values()]
    assert sorted(operations) == ["get", "post"]
    assert len(set(ids)) == 2
    assert "/api/action/{action}" not in spec["paths"]
