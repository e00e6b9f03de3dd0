"""The data client's pages: search with facets, the dataset page with its "Request access"
form, and the field standard (both databases, zh and en)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.auth.models import User
from cityos.datahub import filters, service, views_dataset
from cityos.datahub.models import SharingRequest
from cityos.datahub.tableschema import from_resolved
from tests.conftest import login
from tests.datahub.conftest import TEST_ACTOR, MakeDataset
from tests.datahub.portal_support import (
    HTML,
    ZH,
    form_post,
    people_dataset,
    stations,
)

# --- search -------------------------------------------------------------------------------


def test_search_page_shows_titles_in_the_visitors_language(
    client: TestClient, make_dataset: MakeDataset
) -> None:
    stations(make_dataset)
    english = client.get("/data", headers=HTML)
    assert english.status_code == 200
    assert "Air quality stations" in english.text
    assert 'data-testid="facet-theme"' in english.text
    assert "Environment" in english.text
    chinese = client.get("/data", headers=ZH)
    assert chinese.status_code == 200
    assert "空气质量监测站" in chinese.text
    assert "数据门户" in chinese.text
    assert "环境" in chinese.text


def test_a_title_falls_back_to_the_other_language(
    client: TestClient, make_dataset: MakeDataset
) -> None:
    stations(make_dataset, title_zh="")
    assert "Air quality stations" in client.get("/data", headers=ZH).text


def test_anonymous_visitors_find_only_open_datasets(
    client: TestClient, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    people_dataset(make_dataset)
    anonymous = client.get("/data", headers=HTML).text
    assert 'data-name="air-stations"' in anonymous
    assert 'data-name="residents"' not in anonymous
    login(client, "staff.water@example.org")
    signed_in = client.get("/data", headers=HTML).text
    assert 'data-name="residents"' in signed_in
    assert "Restricted" in signed_in


def test_a_facet_link_filters_and_clicking_it_again_removes_the_filter(
    client: TestClient, make_dataset: MakeDataset
) -> None:
    stations(make_dataset)
    people_dataset(make_dataset, access="open")
    both = client.get("/data", headers=HTML).text
    assert 'data-testid="result"' in both
    assert both.count('data-testid="result"') == 2
    link = re.search(r'href="([^"]+)"[^>]*data-testid="facet-theme-ENVI"', both)
    assert link is not None
    filtered = client.get(link.group(1).replace("&amp;", "&"), headers=HTML).text
    assert filtered.count('data-testid="result"') == 1
    assert 'data-name="air-stations"' in filtered
    back = re.search(
        r'href="([^"]+)"[^>]*aria-current="true"[^>]*data-testid="facet-theme-ENVI"', filtered
    )
    assert back is not None
    assert "theme=" not in back.group(1)


def test_search_words_and_sorting_by_rows(client: TestClient, make_dataset: MakeDataset) -> None:
    stations(make_dataset)
    people_dataset(make_dataset, access="open")
    found = client.get("/data?q=pm25", headers=HTML).text
    assert 'data-name="air-stations"' in found
    assert 'data-name="residents"' not in found
    by_rows = client.get("/data?sort=rows", headers=HTML).text
    assert by_rows.index('data-name="air-stations"') < by_rows.index('data-name="residents"')


def test_an_unknown_sort_order_is_refused_with_the_choices(client: TestClient) -> None:
    response = client.get("/data?sort=size", headers=HTML)
    assert response.status_code == 400
    assert "use one of" in response.text


# --- the dataset page -----------------------------------------------------------------------


def test_dataset_page_shows_metadata_quality_dictionary_downloads_and_api(
    client: TestClient, db: Session, make_dataset: MakeDataset
) -> None:
    dataset = stations(make_dataset)
    page = client.get("/data/air-stations", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "Air quality stations" in text
    assert "PM2.5 by station." in text
    assert "https://creativecommons.org/licenses/by/4.0/" in text
    assert 'data-testid="quality"' in text
    assert "Up to date" in text
    assert 'data-testid="dictionary"' in text
    assert "at least 0" in text
    assert 'data-testid="preview-table"' in text
    assert 'id="dataset-map"' in text  # a geopoint field
    assert 'data-testid="dataset-chart"' in text
    for fmt in ("csv", "json", "geojson", "parquet", "xlsx"):
        assert f"/api/data/air-stations/download.{fmt}" in text
    assert "download.csv?bom=1" in text
    table_id = service.table_resource(db, dataset=dataset).uuid
    assert "ckanapi.RemoteCKAN" in text
    assert "/api/data/air-stations/rows" in text
    assert f'resource_id="{table_id}"' in text.replace("&#34;", '"').replace("&quot;", '"')
    assert 'data-testid="loads"' in text
    assert 'data-testid="load-status">loaded<' in text
    assert json.loads(re.search(r'id="dataset-data">(.+?)</script>', text).group(1))["geo"] == (  # type: ignore[union-attr]
        "location"
    )
    assert dataset.name in text


def test_dataset_page_in_chinese(client: TestClient, make_dataset: MakeDataset) -> None:
    stations(make_dataset)
    text = client.get("/data/air-stations", headers=ZH).text
    assert "空气质量监测站" in text
    assert "数据字典" in text
    assert "每日" in text


def test_an_unknown_dataset_is_404(client: TestClient) -> None:
    response = client.get("/data/no-such-data", headers=HTML)
    assert response.status_code == 404
    assert "no-such-data" in response.text


def test_anonymous_visitors_of_a_restricted_dataset_are_sent_to_sign_in(
    client: TestClient, make_dataset: MakeDataset
) -> None:
    people_dataset(make_dataset)
    response = client.get("/data/residents", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_a_restricted_dataset_shows_the_request_form_instead_of_the_preview(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    people_dataset(make_dataset)
    login(client, "staff.water@example.org")
    page = client.get("/data/residents", headers=HTML).text
    assert 'data-testid="request-form"' in page
    assert 'data-testid="preview-table"' not in page
    assert "download.csv" not in page
    assert 'data-testid="dictionary"' in page  # the description stays readable
    response = form_post(
        client,
        "/data/residents",
        "/data/residents/requests",
        {"purpose": "Planning the water supply per household", "fields": ["id", "mobile"]},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/data/residents?notice=requested")
    request = db.scalars(select(SharingRequest)).one()
    assert request.fields == ["id", "mobile"]
    again = client.get("/data/residents?notice=requested", headers=HTML).text
    assert 'data-testid="request-pending"' in again
    assert 'data-testid="request-form"' not in again


def test_a_request_with_a_short_purpose_says_what_to_fix(
    client: TestClient, db: Session, make_dataset: MakeDataset, people: dict[str, User]
) -> None:
    people_dataset(make_dataset)
    login(client, "staff.water@example.org")
    response = form_post(client, "/data/residents", "/data/residents/requests", {"purpose": "x"})
    assert response.status_code == 400
    assert "at least 10 characters" in response.text
    assert 'data-testid="request-form"' in response.text
    assert db.scalars(select(SharingRequest)).first() is None


def test_sensitive_fields_are_marked_masked_or_hidden_for_other_departments(
    client: TestClient, make_dataset: MakeDataset, people: dict[str, User]
) -> None:
    people_dataset(make_dataset, access="shared")
    login(client, "staff.water@example.org")
    page = client.get("/data/residents", headers=HTML).text
    assert re.search(r'data-testid="field-state-mobile">masked<', page)
    assert re.search(r'data-testid="field-state-name">hidden<', page)
    assert re.search(r'data-testid="field-state-id">shown<', page)
    assert 'data-testid="request-form"' in page  # ask for the protected fields
    data = json.loads(re.search(r'id="dataset-data">(.+?)</script>', page).group(1))  # type: ignore[union-attr]
    assert [f["name"] for f in data["fields"]] == ["id", "mobile"]


def script_of(page: str) -> dict[str, Any]:
    """The dataset page's settings for dataset.js."""
    found = re.search(r'id="dataset-data">(.+?)</script>', page)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_the_preview_offers_only_the_operators_each_field_takes(
    client: TestClient, make_dataset: MakeDataset
) -> None:
    stations(make_dataset)
    page = client.get("/data/air-stations", headers=HTML).text
    ops = {f["name"]: f["ops"] for f in script_of(page)["fields"]}
    assert ops["location"] == ["isnull"]  # a geopoint: only "is empty"
    assert ops["district"] == ["eq", "ne", "contains", "in", "isnull"]
    assert ops["pm25"] == ["eq", "ne", "lt", "le", "gt", "ge", "in", "isnull"]
    assert script_of(page)["op_labels"]["isnull"] == "is empty (true/false)"
    sortable = {f["name"]: f["sortable"] for f in script_of(page)["fields"]}
    assert sortable == {"code": True, "district": True, "pm25": True, "location": False}


def test_the_operators_follow_the_field_type_and_what_the_query_api_takes() -> None:
    def ops(kind: str) -> list[str]:
        return views_dataset.filter_ops(
            from_resolved({"fields": [{"name": "a", "type": kind}]}).fields[0]
        )

    assert ops("boolean") == ["eq", "ne", "isnull"]
    assert ops("date") == ["eq", "ne", "lt", "le", "gt", "ge", "in", "isnull"]
    assert ops("integer") == ops("datetime") == ops("date")
    assert ops("geopoint") == ["isnull"]
    assert ops("object") == ["contains", "isnull"]
    for kind in ("boolean", "date", "string", "geopoint", "object", "year", "time"):
        field = from_resolved({"fields": [{"name": "a", "type": kind}]}).fields[0]
        assert set(views_dataset.filter_ops(field)) <= set(filters.ops_for(field))


def test_masked_fields_are_neither_filtered_nor_sorted_in_the_preview(
    client: TestClient, make_dataset: MakeDataset, people: dict[str, User]
) -> None:
    people_dataset(make_dataset, access="shared")
    login(client, "staff.water@example.org")
    page = client.get("/data/residents", headers=HTML).text
    fields = {f["name"]: f for f in script_of(page)["fields"]}
    assert fields["mobile"]["masked"] is True
    assert fields["mobile"]["ops"] == []
    assert fields["mobile"]["sortable"] is False
    choices = re.search(r'data-testid="filter-field">(.*?)</select>', page)
    assert choices is not None
    assert re.findall(r'<option value="([^"]+)"', choices.group(1)) == ["id"]


def test_the_dictionary_shows_the_fields_own_sensitivity_not_its_elements(
    client: TestClient, make_dataset: MakeDataset
) -> None:
    make_dataset(
        name="homes",
        descriptor={
            "fields": [
                {"name": "id", "type": "integer"},
                {"name": "home", "element": "address", "sensitive": True},
                {"name": "street", "element": "address"},
            ]
        },
        rows=[{"id": 1, "home": "建国路 1 号", "street": "建国路"}],
    )
    page = client.get("/data/homes", headers=HTML).text

    def row(name: str) -> str:
        found = re.search(rf'<tr data-field="{name}">(.*?)</tr>', page, re.S)
        assert found is not None
        return found.group(1)

    assert "<td>sensitive</td>" in row("home")  # the element "address" is public
    assert "<td>public</td>" in row("street")


def test_the_python_snippet_follows_next_as_a_path(
    client: TestClient, make_dataset: MakeDataset
) -> None:
    stations(make_dataset)
    page = html.unescape(client.get("/data/air-stations", headers=HTML).text)
    assert 'root = "http://testserver"' in page
    assert 'requests.get(root + page["next"])' in page
    assert '"cursor": page["next"]' not in page
    first = client.get("/api/data/air-stations/rows?limit=5").json()
    assert first["next"].startswith("/api/data/air-stations/rows?")
    assert len(client.get(first["next"]).json()["rows"]) == 5


def test_who_set_a_schema_version_is_shown_only_to_those_who_manage_it(
    client: TestClient, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    anonymous = client.get("/data/air-stations", headers=HTML).text
    assert 'data-testid="versions"' in anonymous
    assert 'data-testid="version-by"' not in anonymous
    assert "system:test" not in anonymous
    login(client, "steward.water@example.org")
    assert 'data-testid="version-by"' not in client.get("/data/air-stations", headers=HTML).text
    login(client, "steward.cmb@example.org")
    mine = client.get("/data/air-stations", headers=HTML).text
    assert 'data-testid="version-by"' in mine
    assert 'href="/data/air-stations/manage"' in mine


# --- the field standard -----------------------------------------------------------------------


def test_the_field_standard_library_is_readable_by_everyone(
    client: TestClient, make_dataset: MakeDataset
) -> None:
    make_dataset(name="xx", descriptor={"fields": [{"name": "a", "type": "string"}]})
    english = client.get("/data/elements", headers=HTML)
    assert english.status_code == 200
    assert 'data-testid="element-uscc"' in english.text
    assert "Mobile phone number" in english.text
    assert "sensitive" in english.text
    chinese = client.get("/data/elements", headers=ZH).text
    assert "手机号码" in chinese
    assert "数据元标准" in chinese


def test_csrf_is_required_on_portal_forms(
    client: TestClient, make_dataset: MakeDataset, people: dict[str, User]
) -> None:
    people_dataset(make_dataset)
    login(client, "staff.water@example.org")
    response = client.post(
        "/data/residents/requests", data={"purpose": "Planning the water supply"}, headers=HTML
    )
    assert response.status_code == 403
    assert "security token" in response.text


def test_results_come_in_pages_of_twenty_and_a_dataset_without_schema_still_shows(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    for number in range(21):
        service.create_dataset(
            db,
            data={"name": f"plan-{number:02d}", "title_en": f"Plan {number:02d}", "title_zh": ""},
            department_code="WATER",
            actor=TEST_ACTOR,
        )
    db.commit()
    first = client.get("/data?sort=title", headers=HTML).text
    assert first.count('data-testid="result"') == 20
    assert "Page 1 of 2" in first
    second = client.get("/data?sort=title&page=2", headers=HTML).text
    assert second.count('data-testid="result"') == 1
    assert 'data-name="plan-20"' in second
    page = client.get("/data/plan-00", headers=HTML)
    assert page.status_code == 200
    assert "No schema yet." in page.text
    assert 'id="dataset-data"' not in page.text
