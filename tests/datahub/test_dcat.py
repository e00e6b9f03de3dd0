"""The DCAT-AP 3 catalogue: valid against the official SHACL shapes, readable back as
JSON-LD and Turtle, and listing only what the caller may see."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pyshacl import validate
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, XSD
from sqlalchemy.orm import Session

from cityos.auth.models import User
from cityos.datahub import dcat, service
from tests.datahub.ckan_support import Catalog, api_key, make_catalog
from tests.datahub.conftest import TEST_ACTOR, MakeDataset

BASE = "http://testserver"
DATASET = URIRef(f"{BASE}/data/air-quality#dataset")


@pytest.fixture
def catalog(make_dataset: MakeDataset) -> Catalog:
    return make_catalog(make_dataset)


@pytest.fixture(scope="module")
def shapes(shared_dir: Path) -> Graph:
    return Graph().parse(shared_dir / "standards" / "dcat-ap" / "dcat-ap_3_shacl_shapes.ttl")


def parse(text: str, fmt: str) -> Graph:
    with warnings.catch_warnings():
        # rdflib 7.6's own JSON-LD parser uses its deprecated ConjunctiveGraph
        warnings.simplefilter("ignore", DeprecationWarning)
        return Graph().parse(data=text, format=fmt)


def assert_conforms(data: Graph, shapes: Graph) -> None:
    conforms, _report, text = validate(
        data,
        shacl_graph=shapes,
        inference="none",
        abort_on_first=False,
        allow_warnings=True,
    )
    assert conforms, text


def test_whole_catalog_conforms_to_the_dcat_ap_3_shapes(
    db: Session, catalog: Catalog, people: dict[str, User], shapes: Graph
) -> None:
    service.attach_file(
        db, dataset=catalog.air, filename="stations.pdf", content=b"%PDF-1.4 xyz", actor=TEST_ACTOR
    )
    db.commit()
    for user in (None, people["admin"]):  # the public catalogue, and everything
        graph = dcat.catalog_graph(db, user=user, base_url=BASE)
        assert_conforms(graph, shapes)


def test_one_dataset_conforms_to_the_dcat_ap_3_shapes(
    db: Session, catalog: Catalog, shapes: Graph
) -> None:
    assert_conforms(dcat.dataset_graph(db, dataset=catalog.air, base_url=BASE), shapes)


def test_a_dataset_says_its_languages_themes_coverage_and_distributions(
    db: Session, catalog: Catalog
) -> None:
    service.attach_file(
        db, dataset=catalog.air, filename="stations.pdf", content=b"%PDF-1.4 xyz", actor=TEST_ACTOR
    )
    graph = dcat.dataset_graph(db, dataset=catalog.air, base_url=BASE)

    titles = set(graph.objects(DATASET, DCTERMS.title))
    assert Literal("空气质量站点监测", lang="zh") in titles
    assert Literal("Air quality by station", lang="en") in titles
    themes = set(graph.objects(DATASET, DCAT.theme))
    assert URIRef("http://publications.europa.eu/resource/authority/data-theme/ENVI") in themes
    assert (DATASET, DCTERMS.accrualPeriodicity, URIRef(dcat.EU + "frequency/DAILY")) in graph
    assert (DATASET, DCTERMS.accessRights, URIRef(dcat.ACCESS_RIGHT + "PUBLIC")) in graph
    period = graph.value(DATASET, DCTERMS.temporal)
    assert graph.value(period, DCAT.startDate) == Literal("2024-05-01", datatype=XSD.date)
    issued = graph.value(DATASET, DCTERMS.issued)
    assert isinstance(issued, Literal)
    assert issued.datatype == XSD.dateTime
    contact = graph.value(DATASET, DCAT.contactPoint)
    assert graph.value(contact, dcat.VCARD.hasEmail) == URIRef("mailto:air@example.org")
    media = {
        str(graph.value(d, DCAT.mediaType)).removeprefix(dcat.IANA)
        for d in graph.objects(DATASET, DCAT.distribution)
    }
    assert media == {
        "text/csv",
        "application/json",
        "application/geo+json",  # the dataset has a geopoint field
        "application/vnd.apache.parquet",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/pdf",
    }
    pdf = URIRef(
        next(str(d) for d in graph.objects(DATASET, DCAT.distribution) if "resource-" in d)
    )
    assert graph.value(pdf, DCAT.byteSize) == Literal(12, datatype=XSD.nonNegativeInteger)
    assert (URIRef(dcat.IANA + "text/csv"), RDF.type, DCTERMS.MediaType) in graph


def test_a_table_without_geopoints_has_no_geojson_distribution(
    db: Session, catalog: Catalog
) -> None:
    graph = dcat.dataset_graph(db, dataset=catalog.hospitals, base_url=BASE)
    node = URIRef(f"{BASE}/data/hospitals#dataset")
    formats = {
        str(graph.value(d, DCTERMS["format"])) for d in graph.objects(node, DCAT.distribution)
    }
    assert formats == {dcat.FILE_TYPE + code for code in ("CSV", "JSON", "PARQUET", "XLSX")}


def test_catalog_reads_back_from_json_ld_and_turtle(client: TestClient, catalog: Catalog) -> None:
    as_jsonld = client.get("/catalog.jsonld")
    as_turtle = client.get("/catalog.ttl")

    assert as_jsonld.status_code == 200
    assert as_jsonld.headers["content-type"].startswith("application/ld+json")
    assert as_turtle.headers["content-type"].startswith("text/turtle")
    assert "@context" in json.loads(as_jsonld.text)
    for text, fmt in ((as_jsonld.text, "json-ld"), (as_turtle.text, "turtle")):
        graph = parse(text, fmt)
        datasets = set(graph.subjects(RDF.type, DCAT.Dataset))
        # the public catalogue: open datasets only
        assert datasets == {DATASET, URIRef(f"{BASE}/data/hospitals#dataset")}
        assert set(graph.objects(URIRef(f"{BASE}/catalog"), DCAT.dataset)) == datasets
        services = set(graph.subjects(RDF.type, DCAT.DataService))
        endpoints = {str(graph.value(s, DCAT.endpointURL)) for s in services}
        assert endpoints == {f"{BASE}/api/3/action/", f"{BASE}/api/data/"}


def test_signed_in_callers_see_every_catalogue_entry(
    client: TestClient, db: Session, catalog: Catalog, people: dict[str, User]
) -> None:
    key = api_key(db, people["water"])
    answer = client.get("/catalog.ttl", headers={"Authorization": f"Bearer {key}"})
    graph = parse(answer.text, "turtle")
    names = {
        str(graph.value(d, DCTERMS.identifier)) for d in graph.subjects(RDF.type, DCAT.Dataset)
    }
    assert names == {"air-quality", "hospitals", "street-permits", "budget"}
    restricted = URIRef(f"{BASE}/data/street-permits#dataset")
    assert graph.value(restricted, DCTERMS.accessRights) == URIRef(dcat.ACCESS_RIGHT + "RESTRICTED")


def test_one_dataset_is_served_as_json_ld_and_turtle(client: TestClient, catalog: Catalog) -> None:
    for fmt, parser in (("jsonld", "json-ld"), ("ttl", "turtle")):
        answer = client.get(f"/catalog/air-quality.{fmt}")
        assert answer.status_code == 200
        graph = parse(answer.text, parser)
        assert (DATASET, RDF.type, DCAT.Dataset) in graph


def test_a_restricted_dataset_is_not_shown_to_anonymous_callers(
    client: TestClient, catalog: Catalog
) -> None:
    answer = client.get("/catalog/street-permits.jsonld")
    assert answer.status_code == 401
    assert "sign in" in answer.json()["error"]["message"]


def test_unknown_dataset_and_format_are_404_with_what_to_use(
    client: TestClient, catalog: Catalog
) -> None:
    missing = client.get("/catalog/nope.jsonld")
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]["message"]
    wrong = client.get("/catalog.rdf")
    assert wrong.status_code == 404
    assert ".jsonld" in wrong.json()["error"]["message"]
