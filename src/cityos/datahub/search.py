"""Searching the catalog: every word of ``q`` plus facet filters, with facet counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.datahub import access
from cityos.datahub.models import (
    Dataset,
    Frequency,
    Resource,
    ResourceKind,
    SchemaVersion,
)
from cityos.datahub.tableschema import TableSchema, from_resolved
from cityos.datahub.vocab import ACCESS_LABELS, FREQUENCY_LABELS, LICENCES, THEMES, table_formats
from cityos.errors import InvalidInput


def schemas_of(db_session: Session, datasets: Sequence[Dataset]) -> dict[int, TableSchema]:
    """The current schema of each dataset that has one, in one query."""
    wanted = {d.id: d.schema_version for d in datasets if d.schema_version is not None}
    if not wanted:
        return {}
    rows = db_session.execute(
        select(SchemaVersion.dataset_id, SchemaVersion.version, SchemaVersion.descriptor).where(
            SchemaVersion.dataset_id.in_(wanted)
        )
    )
    return {
        dataset_id: from_resolved(descriptor)
        for dataset_id, version, descriptor in rows
        if wanted.get(dataset_id) == version
    }


# ------------------------------------------------------------------------------

FACETS = ("theme", "department", "format", "licence", "access", "frequency", "keyword")
ALL_OF = frozenset({"keyword"})  # a dataset must have every keyword chosen; else any value
SORTS = ("relevance", "title", "updated", "name", "created", "rows")


@dataclass(frozen=True, slots=True)
class FacetValue:
    value: str
    count: int
    label_zh: str
    label_en: str


@dataclass(slots=True)
class SearchResult:
    total: int
    datasets: list[Dataset]
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    schemas: dict[int, TableSchema] = field(default_factory=dict)


def facet_values(
    dataset: Dataset, schema: TableSchema | None, files: set[str]
) -> dict[str, list[str]]:
    """A dataset's value(s) of each facet; ``files``: the formats of its attached files."""
    return {
        "theme": list(dataset.themes or []),
        "department": [dataset.department.code],
        "format": sorted(set(table_formats(schema)) | files),
        "licence": [dataset.licence],
        "access": [dataset.access],
        "frequency": [dataset.frequency],
        "keyword": sorted({keyword.lower() for keyword in dataset.keywords or []}),
    }


def _label(facet: str, value: str, departments: Mapping[str, tuple[str, str]]) -> tuple[str, str]:
    if facet == "theme":
        return THEMES.get(value, (value, value))
    if facet == "department":
        return departments.get(value, (value, value))
    if facet == "licence":
        licence = LICENCES.get(value)
        return (licence.title, licence.title) if licence else (value, value)
    if facet == "frequency":
        try:
            return FREQUENCY_LABELS[Frequency(value)]
        except ValueError:
            return (value, value)
    if facet == "access":
        return ACCESS_LABELS.get(value, (value, value))
    return (value, value)


def _score(dataset: Dataset, words: list[str]) -> int:
    """0 when a word is missing; else higher for matches in names and titles."""
    fields = (
        (5, f"{dataset.name} {dataset.title_zh} {dataset.title_en}".lower()),
        (3, " ".join(dataset.keywords or []).lower()),
        (1, f"{dataset.description_zh} {dataset.description_en}".lower()),
        (
            1,
            " ".join(
                (dataset.department.code, dataset.department.name_zh, dataset.department.name_en)
            ).lower(),
        ),
    )
    score = 0
    for word in words:
        hits = sum(weight for weight, text in fields if word in text)
        if not hits:
            return 0
        score += hits
    return score


def search(
    db_session: Session,
    *,
    user: User | None,
    q: str | None = None,
    filters: Mapping[str, Sequence[str]] | None = None,
    sort: str = "relevance",
    offset: int = 0,
    limit: int = 20,
) -> SearchResult:
    """Datasets the user may see, matching ``q`` (every word) and the facet filters.

    Facet counts are over the matches of ``q`` and of the *other* facets' filters, so each
    facet shows what choosing one of its values would give.
    """
    filters = {k: [v for v in vs if v] for k, vs in (filters or {}).items() if k in FACETS}
    if "keyword" in filters:
        filters["keyword"] = [keyword.lower() for keyword in filters["keyword"]]
    if sort not in SORTS:
        raise InvalidInput(f"sort={sort!r}: use one of {', '.join(SORTS)}")
    words = [word for word in (q or "").lower().split() if word]
    every = db_session.scalars(select(Dataset).order_by(Dataset.name))
    candidates = [d for d in every if access.can_see_metadata(d, user)]
    schemas = schemas_of(db_session, candidates)
    file_formats: dict[int, set[str]] = {}
    for dataset_id, fmt in db_session.execute(
        select(Resource.dataset_id, Resource.format).where(Resource.kind == ResourceKind.FILE.value)
    ):
        if fmt:
            file_formats.setdefault(dataset_id, set()).add(fmt)
    scored: list[tuple[Dataset, int, dict[str, list[str]]]] = []
    for dataset in candidates:
        score = _score(dataset, words) if words else 1
        if score:
            values = facet_values(
                dataset, schemas.get(dataset.id), file_formats.get(dataset.id, set())
            )
            scored.append((dataset, score, values))

    def passes(values: dict[str, list[str]], skip: str | None) -> bool:
        return all(
            (all if facet in ALL_OF else any)(choice in values[facet] for choice in choices)
            for facet, choices in filters.items()
            if facet != skip and choices
        )

    departments = {
        d.code: (d.name_zh, d.name_en) for d in auth_service.list_departments(db_session)
    }
    facets: dict[str, list[FacetValue]] = {}
    for facet in FACETS:
        counts: Counter[str] = Counter()
        for _dataset, _score_value, values in scored:
            if passes(values, facet):
                counts.update(values[facet])
        facets[facet] = [
            FacetValue(value, count, *_label(facet, value, departments))
            for value, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]
    matches = [(d, s) for d, s, values in scored if passes(values, None)]
    if sort == "relevance":
        matches.sort(
            key=lambda item: (
                -item[1],
                -(item[0].data_updated_at or item[0].updated_at).timestamp(),
            )
        )
    elif sort == "title":
        matches.sort(key=lambda item: (item[0].title_en or item[0].title_zh).lower())
    elif sort == "updated":
        matches.sort(key=lambda item: -(item[0].data_updated_at or item[0].updated_at).timestamp())
    elif sort == "created":
        matches.sort(key=lambda item: -item[0].created_at.timestamp())
    elif sort == "rows":
        matches.sort(key=lambda item: -item[0].row_count)
    else:
        matches.sort(key=lambda item: item[0].name)
    page = [d for d, _ in matches[max(offset, 0) : max(offset, 0) + max(limit, 0)]]
    return SearchResult(
        total=len(matches),
        datasets=page,
        facets=facets,
        schemas={d.id: schemas[d.id] for d in page if d.id in schemas},
    )
