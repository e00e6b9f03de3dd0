"""The data hub's catalogue as DCAT-AP 3 (an RDF graph; JSON-LD and Turtle).

One ``dcat:Catalog`` (published by the city) lists the datasets a caller may see — for the
public, the open ones — and two ``dcat:DataService``s: the CKAN Action API and the rows
API. Each ``dcat:Dataset`` carries its titles and descriptions in Chinese and English,
themes from the EU data-theme authority, its department as ``dct:publisher``, a contact
point, frequency, spatial and temporal coverage, access rights, and one
``dcat:Distribution`` per download format of its table (GeoJSON only for geo datasets)
and per attached file.

The DCAT-AP SHACL shapes check the class of each value (``sh:class``), and pyshacl does not
infer classes, so every value node is typed here: media types ``dct:MediaType``, formats
``dct:MediaTypeOrExtent``, licences ``dct:LicenseDocument``, themes ``skos:Concept``, URLs
``rdfs:Resource`` and so on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF, RDFS, SKOS, XSD
from sqlalchemy.orm import Session

from cityos.auth.models import Department, User
from cityos.datahub import service, vocab
from cityos.datahub.models import Access, Dataset, Frequency, Resource, ResourceKind
from cityos.datahub.tableschema import TableSchema

DCAT = Namespace("http://www.w3.org/ns/dcat#")  # DCAT 3 (rdflib's DCAT lacks version)
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
EU = "http://publications.europa.eu/resource/authority/"
FILE_TYPE = EU + "file-type/"
ACCESS_RIGHT = EU + "access-right/"
LANGUAGE = EU + "language/"
IANA = "https://www.iana.org/assignments/media-types/"
CKAN_API_DOCS = "https://docs.ckan.org/en/2.10/api/"

PREFIXES: dict[str, str] = {
    "dcat": str(DCAT),
    "dct": str(DCTERMS),
    "foaf": str(FOAF),
    "vcard": str(VCARD),
    "skos": str(SKOS),
    "locn": str(LOCN),
    "rdfs": str(RDFS),
    "xsd": str(XSD),
}

# Access level → the EU access-right authority
ACCESS_RIGHTS: dict[str, str] = {
    Access.OPEN.value: "PUBLIC",
    Access.SHARED.value: "NON_PUBLIC",
    Access.RESTRICTED.value: "RESTRICTED",
}
# Distributions of a table, in this order (NDJSON has no IANA media type; it is left out)
TABLE_DISTRIBUTIONS: tuple[str, ...] = ("CSV", "JSON", "GEOJSON", "PARQUET", "XLSX")
# Formats whose media type IANA registers (others get a dct:format only)
IANA_REGISTERED = frozenset(
    {
        "text/csv",
        "text/tab-separated-values",
        "application/json",
        "application/geo+json",
        "application/vnd.apache.parquet",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/pdf",
        "application/zip",
        "text/plain",
        "image/png",
        "image/jpeg",
    }
)
# Formats of the EU file-type authority (code = our format name)
EU_FILE_TYPES = frozenset(
    {"CSV", "TSV", "JSON", "GEOJSON", "PARQUET", "XLSX", "PDF", "ZIP", "TXT", "PNG", "JPEG"}
)


def new_graph() -> Graph:
    graph = Graph()
    for prefix, space in PREFIXES.items():
        graph.bind(prefix, space)
    return graph


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def catalog_iri(base_url: str) -> URIRef:
    return URIRef(f"{_base(base_url)}/catalog")


def dataset_iri(base_url: str, dataset: Dataset) -> URIRef:
    return URIRef(f"{_base(base_url)}/data/{dataset.name}#dataset")


def publisher_iri(base_url: str, department: Department) -> URIRef:
    return URIRef(f"{_base(base_url)}/data?department={department.code}")


def _datetime(moment: datetime) -> Literal:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Literal(moment.astimezone(UTC).isoformat(), datatype=XSD.dateTime)


def _date(day: date) -> Literal:
    return Literal(day.isoformat(), datatype=XSD.date)


def _texts(graph: Graph, node: URIRef | BNode, predicate: URIRef, zh: str, en: str) -> None:
    """A text in both languages (each only when given)."""
    if zh:
        graph.add((node, predicate, Literal(zh, lang="zh")))
    if en:
        graph.add((node, predicate, Literal(en, lang="en")))


def _typed(graph: Graph, iri: str, kind: URIRef) -> URIRef:
    node = URIRef(iri)
    graph.add((node, RDF.type, kind))
    return node


def _url(graph: Graph, iri: str) -> URIRef:
    return _typed(graph, iri, RDFS.Resource)


def _add_languages(graph: Graph, node: URIRef) -> None:
    for code in ("ZHO", "ENG"):
        language = _typed(graph, LANGUAGE + code, DCTERMS.LinguisticSystem)
        graph.add((node, DCTERMS.language, language))


def add_agent(graph: Graph, node: URIRef, *, zh: str, en: str) -> URIRef:
    graph.add((node, RDF.type, FOAF.Agent))
    _texts(graph, node, FOAF.name, zh, en)
    return node


def add_theme(graph: Graph, code: str) -> URIRef:
    zh, en = vocab.THEMES[code]
    node = _typed(graph, vocab.theme_uri(code), SKOS.Concept)
    _texts(graph, node, SKOS.prefLabel, zh, en)
    graph.add((node, SKOS.inScheme, URIRef(vocab.THEME_AUTHORITY.rstrip("/"))))
    return node


def add_licence(graph: Graph, code: str) -> URIRef | None:
    licence = vocab.LICENCES.get(code)
    if licence is None:
        return None
    node = _typed(graph, licence.url, DCTERMS.LicenseDocument)
    graph.add((node, DCTERMS.title, Literal(licence.title, lang="en")))
    graph.add((node, DCTERMS.identifier, Literal(code)))
    return node


def add_media(graph: Graph, node: URIRef | BNode, fmt: str, media_type: str) -> None:
    """``dct:format`` (EU file type) and ``dcat:mediaType`` (IANA) of a distribution."""
    if media_type in IANA_REGISTERED:
        graph.add((node, DCAT.mediaType, _typed(graph, IANA + media_type, DCTERMS.MediaType)))
    if fmt in EU_FILE_TYPES:
        graph.add(
            (node, DCTERMS["format"], _typed(graph, FILE_TYPE + fmt, DCTERMS.MediaTypeOrExtent))
        )


def add_catalog(
    graph: Graph, *, base_url: str, datasets: Sequence[URIRef], services: Sequence[URIRef]
) -> URIRef:
    base = _base(base_url)
    node = catalog_iri(base_url)
    graph.add((node, RDF.type, DCAT.Catalog))
    _texts(graph, node, DCTERMS.title, "城市开放数据目录", "City open data catalogue")
    _texts(
        graph,
        node,
        DCTERMS.description,
        "城市各部门发布的数据集：标准化字段、质量校验、开放下载与接口。",
        "Datasets published by the city's departments: standardised fields, validated "
        "loads, open downloads and APIs.",
    )
    publisher = add_agent(graph, URIRef(f"{base}/#city"), zh="城市政府", en="City government")
    graph.add((node, DCTERMS.publisher, publisher))
    homepage = _typed(graph, f"{base}/data", FOAF.Document)
    graph.add((node, FOAF.homepage, homepage))
    for code in ("ZHO", "ENG"):
        graph.add(
            (node, DCTERMS.language, _typed(graph, LANGUAGE + code, DCTERMS.LinguisticSystem))
        )
    taxonomy = _typed(graph, vocab.THEME_AUTHORITY.rstrip("/"), SKOS.ConceptScheme)
    graph.add((taxonomy, DCTERMS.title, Literal("Data theme", lang="en")))
    graph.add((node, DCAT.themeTaxonomy, taxonomy))
    for dataset in datasets:
        graph.add((node, DCAT.dataset, dataset))
    for data_service in services:
        graph.add((node, DCAT.service, data_service))
    return node


def add_services(graph: Graph, *, base_url: str, datasets: Sequence[URIRef]) -> list[URIRef]:
    """The CKAN Action API and the rows API, each serving ``datasets``."""
    base = _base(base_url)
    made: list[URIRef] = []
    for fragment, zh, en, endpoint, documentation in (
        ("ckan-api", "CKAN 接口", "CKAN Action API", f"{base}/api/3/action/", CKAN_API_DOCS),
        ("rows-api", "数据行查询接口", "Rows API", f"{base}/api/data/", f"{base}/docs"),
    ):
        node = URIRef(f"{base}/catalog#{fragment}")
        graph.add((node, RDF.type, DCAT.DataService))
        _texts(graph, node, DCTERMS.title, zh, en)
        graph.add((node, DCAT.endpointURL, _url(graph, endpoint)))
        graph.add((node, DCAT.endpointDescription, _url(graph, f"{base}/openapi.json")))
        graph.add((node, FOAF.page, _typed(graph, documentation, FOAF.Document)))
        for dataset in datasets:
            graph.add((node, DCAT.servesDataset, dataset))
        made.append(node)
    return made


def add_dataset(
    graph: Graph,
    *,
    base_url: str,
    dataset: Dataset,
    schema: TableSchema | None,
    resources: Sequence[Resource],
) -> URIRef:
    base = _base(base_url)
    node = dataset_iri(base_url, dataset)
    graph.add((node, RDF.type, DCAT.Dataset))
    _texts(graph, node, DCTERMS.title, dataset.title_zh, dataset.title_en)
    _texts(
        graph,
        node,
        DCTERMS.description,
        dataset.description_zh or dataset.title_zh,
        dataset.description_en or dataset.title_en,
    )
    graph.add((node, DCTERMS.identifier, Literal(dataset.name)))
    for keyword in dataset.keywords:
        graph.add((node, DCAT.keyword, Literal(keyword)))
    for code in dataset.themes:
        if code in vocab.THEMES:
            graph.add((node, DCAT.theme, add_theme(graph, code)))
    department = dataset.department
    publisher = add_agent(
        graph, publisher_iri(base_url, department), zh=department.name_zh, en=department.name_en
    )
    graph.add((node, DCTERMS.publisher, publisher))
    _add_contact(graph, node, dataset)
    _add_coverage(graph, node, dataset)
    try:
        frequency = vocab.frequency_uri(Frequency(dataset.frequency))
        graph.add((node, DCTERMS.accrualPeriodicity, _typed(graph, frequency, DCTERMS.Frequency)))
    except ValueError:
        pass
    rights = ACCESS_RIGHT + ACCESS_RIGHTS.get(dataset.access, "RESTRICTED")
    graph.add((node, DCTERMS.accessRights, _typed(graph, rights, DCTERMS.RightsStatement)))
    graph.add((node, DCTERMS.issued, _datetime(dataset.created_at)))
    graph.add((node, DCTERMS.modified, _datetime(dataset.data_updated_at or dataset.updated_at)))
    page = _typed(graph, f"{base}/data/{dataset.name}", FOAF.Document)
    graph.add((node, DCAT.landingPage, page))
    for code in ("ZHO", "ENG"):
        graph.add(
            (node, DCTERMS.language, _typed(graph, LANGUAGE + code, DCTERMS.LinguisticSystem))
        )
    if dataset.schema_version is not None:
        graph.add((node, DCAT.version, Literal(str(dataset.schema_version))))
    for distribution in _distributions(graph, base_url, dataset, schema, resources):
        graph.add((node, DCAT.distribution, distribution))
    return node


def _add_contact(graph: Graph, node: URIRef, dataset: Dataset) -> None:
    if not (dataset.contact_name or dataset.contact_email):
        return
    contact = BNode()
    graph.add((contact, RDF.type, VCARD.Kind))
    graph.add((contact, VCARD.fn, Literal(dataset.contact_name or dataset.contact_email)))
    if dataset.contact_email:
        graph.add((contact, VCARD.hasEmail, URIRef(f"mailto:{dataset.contact_email}")))
    graph.add((node, DCAT.contactPoint, contact))


def _add_coverage(graph: Graph, node: URIRef, dataset: Dataset) -> None:
    if dataset.spatial:
        place = BNode()
        graph.add((place, RDF.type, DCTERMS.Location))
        graph.add((place, LOCN.geographicName, Literal(dataset.spatial)))
        graph.add((node, DCTERMS.spatial, place))
    if dataset.temporal_start or dataset.temporal_end:
        period = BNode()
        graph.add((period, RDF.type, DCTERMS.PeriodOfTime))
        if dataset.temporal_start:
            graph.add((period, DCAT.startDate, _date(dataset.temporal_start)))
        if dataset.temporal_end:
            graph.add((period, DCAT.endDate, _date(dataset.temporal_end)))
        graph.add((node, DCTERMS.temporal, period))


def _distributions(
    graph: Graph,
    base_url: str,
    dataset: Dataset,
    schema: TableSchema | None,
    resources: Sequence[Resource],
) -> list[URIRef]:
    # Shared and restricted datasets list their download URLs too (signed-in callers see
    # them in the catalogue); a caller without the right gets 403 there, and the
    # dataset's dct:accessRights says so beforehand.
    base = _base(base_url)
    page = f"{base}/data/{dataset.name}"
    licence = add_licence(graph, dataset.licence)
    made: list[URIRef] = []
    formats = vocab.table_formats(schema)
    for fmt in TABLE_DISTRIBUTIONS if schema is not None else ():
        if fmt not in formats:
            continue
        node = URIRef(f"{page}#{fmt.lower()}")
        download = f"{base}/api/data/{dataset.name}/download.{fmt.lower()}"
        _distribution(graph, node, title=(f"{fmt} 下载", f"{fmt} download"))
        graph.add((node, DCAT.accessURL, _url(graph, download)))
        graph.add((node, DCAT.downloadURL, _url(graph, download)))
        graph.add((node, DCAT.accessService, URIRef(f"{base}/catalog#rows-api")))
        add_media(graph, node, fmt, vocab.MEDIA_TYPES[fmt])
        if dataset.data_updated_at:
            graph.add((node, DCTERMS.modified, _datetime(dataset.data_updated_at)))
        if licence is not None:
            graph.add((node, DCTERMS.license, licence))
        made.append(node)
    for resource in resources:
        if resource.kind != ResourceKind.FILE.value:
            continue
        node = URIRef(f"{page}#resource-{resource.uuid}")
        download = f"{base}/api/data/{dataset.name}/resources/{resource.uuid}"
        _distribution(graph, node, title=("", resource.name))
        if resource.description:
            graph.add((node, DCTERMS.description, Literal(resource.description)))
        graph.add((node, DCAT.accessURL, _url(graph, download)))
        graph.add((node, DCAT.downloadURL, _url(graph, download)))
        add_media(graph, node, resource.format.upper(), resource.media_type)
        if resource.size is not None:
            graph.add(
                (node, DCAT.byteSize, Literal(resource.size, datatype=XSD.nonNegativeInteger))
            )
        graph.add((node, DCTERMS.modified, _datetime(resource.updated_at)))
        if licence is not None:
            graph.add((node, DCTERMS.license, licence))
        made.append(node)
    return made


def _distribution(graph: Graph, node: URIRef, *, title: tuple[str, str]) -> None:
    graph.add((node, RDF.type, DCAT.Distribution))
    _texts(graph, node, DCTERMS.title, *title)


# --- reading the catalogue ---------------------------------------------------------------


def visible_datasets(db_session: Session, *, user: User | None) -> list[Dataset]:
    """What the catalogue lists: open datasets, and for signed-in users every entry."""
    return service.search(db_session, user=user, sort="name", limit=1_000_000).datasets


def catalog_graph(db_session: Session, *, user: User | None, base_url: str) -> Graph:
    """The whole catalogue as the caller may see it."""
    datasets = visible_datasets(db_session, user=user)
    schemas = service.schemas_of(db_session, datasets)
    resources = service.resources_of(db_session, datasets)
    graph = new_graph()
    nodes = [
        add_dataset(
            graph,
            base_url=base_url,
            dataset=dataset,
            schema=schemas.get(dataset.id),
            resources=resources[dataset.id],
        )
        for dataset in datasets
    ]
    services = add_services(graph, base_url=base_url, datasets=nodes)
    add_catalog(graph, base_url=base_url, datasets=nodes, services=services)
    return graph


def dataset_graph(db_session: Session, *, dataset: Dataset, base_url: str) -> Graph:
    """One dataset with its distributions and the services that serve it (the caller's
    right to see it is checked before)."""
    graph = new_graph()
    node = add_dataset(
        graph,
        base_url=base_url,
        dataset=dataset,
        schema=service.current_schema(db_session, dataset=dataset),
        resources=service.resources(db_session, dataset=dataset),
    )
    add_services(graph, base_url=base_url, datasets=[node])
    return graph


def to_jsonld(graph: Graph) -> str:
    text: str = graph.serialize(format="json-ld", context=dict(PREFIXES), auto_compact=True)
    return text


def to_turtle(graph: Graph) -> str:
    text: str = graph.serialize(format="turtle")
    return text


def summary(graph: Graph) -> dict[str, Any]:
    """How many datasets and distributions a graph holds (for logs and tests)."""
    return {
        "datasets": len(set(graph.subjects(RDF.type, DCAT.Dataset))),
        "distributions": len(set(graph.subjects(RDF.type, DCAT.Distribution))),
    }
