"""CKAN speaking the data hub: datasets as packages, departments as organizations, themes as
groups, resources, and CKAN's error objects.

Pure translation: no database, no web. :mod:`cityos.datahub.ckan_params` reads the actions'
parameters, :mod:`cityos.datahub.ckan_actions` runs the actions over the data hub's
service and :mod:`cityos.datahub.ckan_api` serves them over HTTP.

Names: CKAN names are lower case, so an organization is named by its department's code in
lower case (``cmb``) and a group by its theme code in lower case (``envi``); both are found
by either spelling. A package's ``id`` is the dataset's numeric id as a string (stable when
the dataset is renamed); ``package_show`` takes either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from cityos.auth.models import Department
from cityos.datahub import vocab
from cityos.datahub.ckan_params import CkanValidationError
from cityos.datahub.models import Access, Dataset, Resource, ResourceKind
from cityos.datahub.tableschema import FieldType
from cityos.errors import CityOSError, Forbidden, NotFound, Unauthorized

CKAN_VERSION = "2.10.4"  # the CKAN whose Action API this one follows (status_show)

# Table Schema type → CKAN DataStore type
DATASTORE_TYPES: dict[FieldType, str] = {
    FieldType.STRING: "text",
    FieldType.NUMBER: "numeric",
    FieldType.INTEGER: "int",
    FieldType.BOOLEAN: "bool",
    FieldType.DATE: "date",
    FieldType.DATETIME: "timestamp",
    FieldType.TIME: "time",
    FieldType.YEAR: "int",
    FieldType.OBJECT: "json",
    FieldType.ARRAY: "json",
    FieldType.LIST: "_text",
    FieldType.GEOJSON: "json",
    FieldType.GEOPOINT: "_numeric",
}


# --- errors ------------------------------------------------------------------------------


def error_body(error: CityOSError, *, parameter: str = "request") -> tuple[int, dict[str, Any]]:
    """The HTTP status and the ``error`` object CKAN answers for ``error``.

    CKAN clients (ckanapi) read ``__type``; a message's text after the first ``": "`` is
    what they show, so ours follows CKAN's ``Not found: …`` / ``Access denied: …``.
    """
    if isinstance(error, NotFound):
        return 404, {"__type": "Not Found Error", "message": f"Not found: {error.message}"}
    if isinstance(error, Unauthorized | Forbidden):
        return 403, {"__type": "Authorization Error", "message": f"Access denied: {error.message}"}
    if isinstance(error, CkanValidationError):
        problems: dict[str, Any] = dict(error.problems)
    else:
        problems = _problems_of(error, parameter)
    return 409, {"__type": "Validation Error", "message": error.message, **problems}


def _problems_of(error: CityOSError, parameter: str) -> dict[str, list[str]]:
    """{parameter: [messages]} from another module's error (details as a list of problems)."""
    found: dict[str, list[str]] = {}
    if isinstance(error.details, list):
        for problem in error.details:
            if isinstance(problem, Mapping) and "message" in problem:
                key = str(problem.get("field") or problem.get("where") or parameter)
                found.setdefault(key, []).append(str(problem["message"]))
    return found or {parameter: [error.message]}


# --- dictionaries ------------------------------------------------------------------------


def ckan_time(moment: datetime | None) -> str | None:
    """CKAN's timestamps: UTC, ISO 8601 without an offset."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()


def iso_date(day: date | None) -> str:
    return day.isoformat() if day else ""


def help_url(base_url: str, action: str) -> str:
    return f"{base_url.rstrip('/')}/api/3/action/help_show?name={action}"


def dataset_page(base_url: str, dataset: Dataset) -> str:
    return f"{base_url.rstrip('/')}/data/{dataset.name}"


def table_download_url(base_url: str, dataset: Dataset, fmt: str = "csv") -> str:
    return f"{base_url.rstrip('/')}/api/data/{dataset.name}/download.{fmt.lower()}"


def file_download_url(base_url: str, dataset: Dataset, resource: Resource) -> str:
    return f"{base_url.rstrip('/')}/api/data/{dataset.name}/resources/{resource.uuid}"


def resource_url(base_url: str, dataset: Dataset, resource: Resource) -> str:
    if resource.kind == ResourceKind.TABLE.value:
        return table_download_url(base_url, dataset)
    return file_download_url(base_url, dataset, resource)


def organization_dict(
    department: Department, *, package_count: int | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": department.code,
        "name": department.code.lower(),
        "title": department.name_en or department.name_zh,
        "display_name": department.name_en or department.name_zh,
        "title_translated": {"zh": department.name_zh, "en": department.name_en},
        "description": "",
        "image_url": "",
        "image_display_url": "",
        "type": "organization",
        "is_organization": True,
        "state": "active",
        "approval_status": "approved",
        "created": ckan_time(department.created_at),
    }
    if package_count is not None:
        out["package_count"] = package_count
    return out


def group_dict(code: str, *, package_count: int | None = None) -> dict[str, Any]:
    zh, en = vocab.THEMES[code]
    out: dict[str, Any] = {
        "id": code,
        "name": code.lower(),
        "title": en,
        "display_name": en,
        "title_translated": {"zh": zh, "en": en},
        "description": f"EU data theme {code}: {vocab.theme_uri(code)}",
        "image_url": "",
        "image_display_url": "",
        "type": "group",
        "is_organization": False,
        "state": "active",
        "approval_status": "approved",
        "url": vocab.theme_uri(code),
    }
    if package_count is not None:
        out["package_count"] = package_count
    return out


def resource_dict(
    base_url: str, dataset: Dataset, resource: Resource, position: int
) -> dict[str, Any]:
    table = resource.kind == ResourceKind.TABLE.value
    fmt = "CSV" if table else resource.format.upper()
    return {
        "id": resource.uuid,
        "package_id": str(dataset.id),
        "name": resource.name,
        "description": resource.description,
        "format": fmt,
        "mimetype": vocab.MEDIA_TYPES.get(fmt, resource.media_type or None),
        "url": resource_url(base_url, dataset, resource),
        "url_type": "datastore" if table else "upload",
        "datastore_active": table,
        "size": None if table else resource.size,
        "hash": "" if table or not resource.sha256 else f"sha256:{resource.sha256}",
        "created": ckan_time(resource.created_at),
        "last_modified": ckan_time(dataset.data_updated_at if table else resource.updated_at),
        "metadata_modified": ckan_time(resource.updated_at),
        "position": position,
        "state": "active",
        "resource_type": "datastore" if table else "file",
    }


def package_dict(base_url: str, dataset: Dataset, resources: Sequence[Resource]) -> dict[str, Any]:
    """A dataset as CKAN's ``package_show`` returns it."""
    licence = vocab.LICENCES.get(dataset.licence)
    tags = [
        {"name": keyword, "display_name": keyword, "state": "active"}
        for keyword in dataset.keywords
    ]
    groups = [group_dict(code) for code in dataset.themes if code in vocab.THEMES]
    extras = {
        "access_level": dataset.access,
        "frequency": dataset.frequency,
        "spatial": dataset.spatial,
        "temporal_start": iso_date(dataset.temporal_start),
        "temporal_end": iso_date(dataset.temporal_end),
        "contact_name": dataset.contact_name,
        "contact_email": dataset.contact_email,
        "title_zh": dataset.title_zh,
        "row_count": str(dataset.row_count),
        "dcat_uri": f"{base_url.rstrip('/')}/catalog/{dataset.name}.jsonld",
    }
    return {
        "id": str(dataset.id),
        "name": dataset.name,
        "title": dataset.title_en or dataset.title_zh,
        "title_translated": {"zh": dataset.title_zh, "en": dataset.title_en},
        "notes": dataset.description_en or dataset.description_zh,
        "notes_translated": {"zh": dataset.description_zh, "en": dataset.description_en},
        "url": dataset_page(base_url, dataset),
        "type": "dataset",
        "state": "active",
        "private": dataset.access != Access.OPEN.value,
        "owner_org": dataset.department.code,
        "organization": organization_dict(dataset.department),
        "groups": groups,
        "tags": tags,
        "num_tags": len(tags),
        "license_id": dataset.licence,
        "license_title": licence.title if licence else dataset.licence,
        "license_url": licence.url if licence else "",
        "isopen": bool(licence and licence.open),
        "maintainer": dataset.contact_name,
        "maintainer_email": dataset.contact_email,
        "author": dataset.department.name_en or dataset.department.name_zh,
        "author_email": "",
        "version": str(dataset.schema_version or ""),
        "metadata_created": ckan_time(dataset.created_at),
        "metadata_modified": ckan_time(dataset.updated_at),
        "resources": [
            resource_dict(base_url, dataset, resource, position)
            for position, resource in enumerate(resources)
        ],
        "num_resources": len(resources),
        "extras": [{"key": key, "value": value} for key, value in extras.items() if value],
        "relationships_as_object": [],
        "relationships_as_subject": [],
    }


def facet_items(values: Iterable[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """(name, display name, count) → CKAN's ``search_facets`` items, most frequent first."""
    ordered = sorted(values, key=lambda value: (-value[2], value[0]))
    return [
        {"name": name, "display_name": display, "count": count} for name, display, count in ordered
    ]


def limit_facets(items: list[dict[str, Any]], *, limit: int, mincount: int) -> list[dict[str, Any]]:
    kept = [item for item in items if item["count"] >= mincount]
    return kept if limit < 0 else kept[:limit]
