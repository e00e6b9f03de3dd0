"""JSON of the data hub API: request bodies, and dicts of datasets, loads, requests, elements.

:func:`dataset_summary` is the one picture of a dataset's metadata; the pages and the CKAN
adapter reuse it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cityos.datahub.models import (
    DataElement,
    Dataset,
    Load,
    QuarantinedRow,
    Resource,
    SchemaVersion,
    SharingRequest,
)
from cityos.datahub.tableschema import TableSchema
from cityos.datahub.vocab import LICENCES, table_formats


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetFields(Body):
    title_zh: str | None = None
    title_en: str | None = None
    description_zh: str | None = None
    description_en: str | None = None
    themes: list[str] | None = Field(None, description="Theme codes: AGRI ECON EDUC … TRAN.")
    keywords: list[str] | None = None
    licence: str | None = Field(None, description="CC-BY-4.0, CC0-1.0, ODbL-1.0, …")
    frequency: str | None = Field(
        None, description="continuous, daily, weekly, monthly, quarterly, annual, irregular"
    )
    spatial: str | None = Field(None, description="An area code of the city map, or a place.")
    temporal_start: date | None = None
    temporal_end: date | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    access: str | None = Field(None, description="open, shared or restricted")


class DatasetIn(DatasetFields):
    name: str = Field(description="Lower-case letters, digits, '-' and '_' (the URL name).")
    department: str | None = Field(
        None, description="Publishing department's code (admins only; default: yours)."
    )
    schema_: dict[str, Any] | None = Field(
        None, alias="schema", description="A Table Schema descriptor (optional)."
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def data(self) -> dict[str, Any]:
        out = self.model_dump(exclude_unset=True, exclude={"department", "schema_"})
        if self.schema_ is not None:
            out["schema"] = self.schema_
        return out


class DatasetPatch(DatasetFields):
    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class RequestIn(Body):
    purpose: str = Field(description="What the data is for (at least 10 characters).")
    fields: list[str] | None = Field(
        None, description="The fields asked for (default: all of them)."
    )


class DecisionIn(Body):
    decision: Literal["approve", "refuse"]
    fields: list[str] | None = Field(
        None, description="Grant only these fields (a subset of those asked for)."
    )
    expires_at: datetime | None = Field(None, description="When the grant ends (future).")
    note: str = ""


class RevokeIn(Body):
    note: str = ""


class ElementIn(Body):
    code: str
    name_zh: str
    name_en: str
    type: str
    definition_zh: str = ""
    definition_en: str = ""
    format: str | None = None
    constraints: dict[str, Any] = Field(default_factory=dict)
    sensitivity: str = "public"
    mask: str | None = None
    example: str = ""


class ElementPatch(Body):
    name_zh: str | None = None
    name_en: str | None = None
    definition_zh: str | None = None
    definition_en: str | None = None
    type: str | None = None
    format: str | None = None
    constraints: dict[str, Any] | None = None
    sensitivity: str | None = None
    mask: str | None = None
    example: str | None = None


# --- output -------------------------------------------------------------------------------


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def dataset_links(
    dataset: Dataset, schema: TableSchema | None, base_url: str = ""
) -> dict[str, Any]:
    root = base_url.rstrip("/")
    return {
        "self": f"{root}/api/data/{dataset.name}",
        "rows": f"{root}/api/data/{dataset.name}/rows",
        "download": {
            fmt.lower(): f"{root}/api/data/{dataset.name}/download.{fmt.lower()}"
            for fmt in table_formats(schema)
        },
        "page": f"{root}/data/{dataset.name}",
    }


def dataset_summary(
    dataset: Dataset, schema: TableSchema | None, *, base_url: str = ""
) -> dict[str, Any]:
    """A dataset's metadata as the API, the pages and the CKAN adapter show it.

    Links are relative unless ``base_url`` is given.
    """
    department = dataset.department
    licence = LICENCES.get(dataset.licence)
    return {
        "name": dataset.name,
        "title": {"zh": dataset.title_zh, "en": dataset.title_en},
        "description": {"zh": dataset.description_zh, "en": dataset.description_en},
        "department": {
            "code": department.code,
            "name_zh": department.name_zh,
            "name_en": department.name_en,
        },
        "themes": list(dataset.themes or []),
        "keywords": list(dataset.keywords or []),
        "licence": {
            "code": dataset.licence,
            "title": licence.title if licence else dataset.licence,
            "url": licence.url if licence else None,
        },
        "frequency": dataset.frequency,
        "spatial": dataset.spatial,
        "temporal": {"start": _iso(dataset.temporal_start), "end": _iso(dataset.temporal_end)},
        "contact": {"name": dataset.contact_name, "email": dataset.contact_email},
        "access": dataset.access,
        "schema_version": dataset.schema_version,
        "row_count": dataset.row_count,
        "data_updated_at": _iso(dataset.data_updated_at),
        "created_at": _iso(dataset.created_at),
        "updated_at": _iso(dataset.updated_at),
        "links": dataset_links(dataset, schema, base_url),
    }


def schema_version_dict(
    row: SchemaVersion, *, current: int | None = None, with_author: bool = True
) -> dict[str, Any]:
    """A schema version; ``with_author=False`` blanks who made it (for non-managers)."""
    return {
        "version": row.version,
        "current": row.version == current,
        "note": row.note,
        "created_by": row.created_by if with_author else "",
        "created_at": _iso(row.created_at),
        "fields": [f.get("name") for f in row.descriptor.get("fields", [])],
    }


def load_dict(load: Load, *, with_report: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": load.id,
        "schema_version": load.schema_version,
        "mode": load.mode,
        "on_error": load.on_error,
        "filename": load.filename,
        "format": load.format,
        "encoding": load.encoding,
        "status": load.status,
        "rows_read": load.rows_read,
        "rows_loaded": load.rows_loaded,
        "rows_rejected": load.rows_rejected,
        "actor": load.actor,
        "started_at": _iso(load.started_at),
        "finished_at": _iso(load.finished_at),
    }
    if with_report:
        out["report"] = load.report
    else:
        out["summary"] = (load.report or {}).get("summary", "")
    return out


def quarantined_dict(row: QuarantinedRow) -> dict[str, Any]:
    return {"row": row.row_number, "data": row.data, "problems": row.problems}


def request_dict(request: SharingRequest, dataset: Dataset, *, state: str) -> dict[str, Any]:
    department = request.department
    return {
        "id": request.id,
        "dataset": {
            "name": dataset.name,
            "title": {"zh": dataset.title_zh, "en": dataset.title_en},
            "department": dataset.department.code,
        },
        "department": {
            "code": department.code,
            "name_zh": department.name_zh,
            "name_en": department.name_en,
        },
        "requested_by_id": request.requested_by_id,
        "purpose": request.purpose,
        "fields": request.fields,
        "status": state,
        "granted_fields": request.granted_fields,
        "expires_at": _iso(request.expires_at),
        "decided_by_id": request.decided_by_id,
        "decided_at": _iso(request.decided_at),
        "decision_note": request.decision_note,
        "created_at": _iso(request.created_at),
    }


def element_dict(element: DataElement) -> dict[str, Any]:
    return {
        "code": element.code,
        "name_zh": element.name_zh,
        "name_en": element.name_en,
        "definition_zh": element.definition_zh,
        "definition_en": element.definition_en,
        "type": element.type,
        "format": element.format,
        "constraints": element.constraints,
        "sensitivity": element.sensitivity,
        "mask": element.mask,
        "example": element.example,
        "builtin": element.builtin,
        "updated_at": _iso(element.updated_at),
    }


def resource_dict(resource: Resource, dataset: Dataset, *, base_url: str = "") -> dict[str, Any]:
    root = base_url.rstrip("/")
    url = (
        f"{root}/api/data/{dataset.name}/download.csv"
        if resource.kind == "table"
        else f"{root}/api/data/{dataset.name}/resources/{resource.uuid}"
    )
    return {
        "id": resource.uuid,
        "kind": resource.kind,
        "name": resource.name,
        "description": resource.description,
        "format": resource.format,
        "media_type": resource.media_type,
        "size": resource.size,
        "sha256": resource.sha256,
        "url": url,
        "created_at": _iso(resource.created_at),
    }
