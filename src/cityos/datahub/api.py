"""The data hub JSON API under ``/api/data``: the catalogue, schemas, loads, files, inference.

Anyone reads open datasets; signed-in users see every catalogue entry (rows of shared and
restricted datasets follow :mod:`cityos.datahub.access`). Stewards and staff of the
publishing department (and admins) change a dataset. A browser session sends the CSRF token
in ``X-CSRF-Token`` with every write; machine clients use ``Authorization: Bearer <API
key>``. Rows and downloads are in :mod:`cityos.datahub.api_rows`; sharing requests, data
elements, quality and metrics in :mod:`cityos.datahub.api_sharing` (included here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response

from cityos.auth.models import Role, User
from cityos.config import Settings
from cityos.datahub import access, api_sharing, ingest, readers, sample, service
from cityos.datahub.api_schemas import (
    DatasetIn,
    DatasetPatch,
    dataset_summary,
    load_dict,
    quarantined_dict,
    resource_dict,
    schema_version_dict,
)
from cityos.datahub.models import Dataset, LoadMode, LoadStatus, OnError
from cityos.datahub.upload_limit import UploadLimit as UploadLimit  # mounted by the app
from cityos.datahub.uploads import read_limited, saved_upload, too_large
from cityos.deps import ActorDep, CurrentUser, OptionalUser, SessionDep, SettingsDep, require_role
from cityos.errors import Forbidden, InvalidInput, NotFound, Unprocessable
from cityos.geo import service as geo_service

router = APIRouter(tags=["data hub"])
router.include_router(api_sharing.router)
# Who may create datasets: stewards and staff (of their own department), and admins.
StewardOrStaff = Annotated[User, Depends(require_role(Role.STEWARD, Role.STAFF), scope="function")]
MAX_PAGE = 100
MAX_QUARANTINE = 1000
INFER_ROWS = 10_000


def upload_limit_mb(settings: Settings) -> float:
    """The largest data file accepted by the API (``datahub_max_upload_mb``)."""
    limit: float = settings.datahub_max_upload_mb
    return limit


def _visible_dataset(db: SessionDep, name: str, user: User | None) -> Dataset:
    dataset = service.get_dataset(db, name=name)
    access.require_metadata(dataset, user)
    return dataset


def _managed_dataset(db: SessionDep, name: str, user: User) -> Dataset:
    dataset = service.get_dataset(db, name=name)
    access.require_manage(dataset, user)
    return dataset


# --- the catalogue ------------------------------------------------------------------------


@router.get("/api/data", summary="Search the catalogue, with facets")
def search_datasets(
    db: SessionDep,
    settings: SettingsDep,
    user: OptionalUser,
    q: Annotated[str | None, Query(description="Words that must all appear")] = None,
    theme: Annotated[list[str] | None, Query(description="Theme codes (repeatable)")] = None,
    department: Annotated[list[str] | None, Query(description="Department codes")] = None,
    format: Annotated[list[str] | None, Query(description="CSV, GEOJSON, PDF, …")] = None,
    licence: Annotated[list[str] | None, Query()] = None,
    access_level: Annotated[
        list[str] | None, Query(alias="access", description="open, shared, restricted")
    ] = None,
    frequency: Annotated[list[str] | None, Query()] = None,
    sort: Annotated[
        str, Query(description="relevance, title, updated, name, created, rows")
    ] = "relevance",
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    offset: Annotated[int | None, Query(ge=0, description="Instead of page")] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE, description="With offset")] = None,
) -> dict[str, Any]:
    """Datasets the caller may see (anonymous: open ones), matching every word of ``q`` and
    the facet filters (values of one facet are alternatives). Facet counts show what each
    value would give."""
    size = limit or page_size
    start = offset if offset is not None else (page - 1) * size
    filters = {
        "theme": theme or [],
        "department": department or [],
        "format": format or [],
        "licence": licence or [],
        "access": access_level or [],
        "frequency": frequency or [],
    }
    found = service.search(
        db,
        user=user,
        q=q,
        filters={key: values for key, values in filters.items() if values},
        sort=sort,
        offset=start,
        limit=size,
    )
    return {
        "count": found.total,
        "offset": start,
        "limit": size,
        "results": [
            dataset_summary(dataset, found.schemas.get(dataset.id)) for dataset in found.datasets
        ],
        "facets": {
            name: [
                {
                    "value": item.value,
                    "count": item.count,
                    "label_zh": item.label_zh,
                    "label_en": item.label_en,
                }
                for item in values
            ]
            for name, values in found.facets.items()
        },
    }


@router.post("/api/data", status_code=201, summary="Create a dataset (stewards, staff, admins)")
def create_dataset(
    db: SessionDep, actor: ActorDep, user: StewardOrStaff, body: DatasetIn
) -> dict[str, Any]:
    """The department is the creator's own; an admin names one with ``department``."""
    if body.department and not access.is_admin(user):
        own = user.department.code if user.department else None
        if body.department != own:
            raise Forbidden("Only admins create datasets for another department; leave it out.")
    code = body.department or (user.department.code if user.department else None)
    if code is None:
        raise InvalidInput("Say which department publishes the dataset: give department (code).")
    dataset = service.create_dataset(db, data=body.data(), department_code=code, actor=actor)
    return _detail(db, dataset, user)


def _detail(db: SessionDep, dataset: Dataset, user: User | None) -> dict[str, Any]:
    schema = service.current_schema(db, dataset=dataset)
    readable = access.read_access(db, dataset=dataset, schema=schema, user=user)
    return {
        **dataset_summary(dataset, schema),
        "schema": schema.to_descriptor() if schema is not None else None,
        "resources": [resource_dict(r, dataset) for r in service.resources(db, dataset=dataset)],
        "your_access": {
            "read": readable.allowed,
            "reason": readable.reason,
            "owner": readable.is_owner,
            "masked": sorted(readable.masked),
            "hidden": sorted(readable.hidden),
            "manage": access.can_manage(dataset, user),
        },
    }


@router.get("/api/data/{name}", summary="One dataset: metadata, schema, resources")
def get_dataset(db: SessionDep, user: OptionalUser, name: str) -> dict[str, Any]:
    return _detail(db, _visible_dataset(db, name, user), user)


@router.patch("/api/data/{name}", summary="Change a dataset's metadata")
def update_dataset(
    db: SessionDep, actor: ActorDep, user: CurrentUser, name: str, body: DatasetPatch
) -> dict[str, Any]:
    _managed_dataset(db, name, user)
    dataset = service.update_dataset(db, name=name, changes=body.changes(), actor=actor)
    return _detail(db, dataset, user)


@router.delete("/api/data/{name}", status_code=204, summary="Delete a dataset and its rows")
def delete_dataset(db: SessionDep, actor: ActorDep, user: CurrentUser, name: str) -> Response:
    _managed_dataset(db, name, user)
    service.delete_dataset(db, name=name, actor=actor)
    return Response(status_code=204)


# --- schemas ------------------------------------------------------------------------------


@router.get("/api/data/{name}/schema", summary="The Table Schema (current or a version)")
def get_schema(
    db: SessionDep,
    user: OptionalUser,
    name: str,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    dataset = _visible_dataset(db, name, user)
    if version is None and dataset.schema_version is None:
        raise NotFound(
            f"{name} has no schema yet: PUT /api/data/{name}/schema with a Table Schema "
            "(POST /api/data/infer suggests one from a file)."
        )
    chosen = version or dataset.schema_version or 0
    schema = service.schema_at(db, dataset=dataset, version=chosen)
    return {
        "version": chosen,
        "current": chosen == dataset.schema_version,
        **schema.to_descriptor(),
    }


@router.put("/api/data/{name}/schema", summary="Set a new schema version")
def put_schema(
    db: SessionDep,
    actor: ActorDep,
    user: CurrentUser,
    name: str,
    descriptor: Annotated[dict[str, Any], Body(description="A Table Schema descriptor")],
    note: Annotated[str, Query(max_length=500, description="Why the schema changed")] = "",
    migration: Annotated[
        str | None,
        Query(
            description="When the change breaks stored rows: 'empty' starts the new version "
            "empty (load the data again)"
        ),
    ] = None,
) -> dict[str, Any]:
    """A change that keeps stored rows valid keeps them; a breaking one is refused (409,
    listing what breaks) unless ``migration=empty``."""
    _managed_dataset(db, name, user)
    row = service.set_schema(
        db, name=name, descriptor=descriptor, actor=actor, note=note, migration=migration
    )
    return {**schema_version_dict(row, current=row.version), "schema": row.descriptor}


@router.get("/api/data/{name}/schema/versions", summary="Every schema version, oldest first")
def schema_versions(db: SessionDep, user: OptionalUser, name: str) -> dict[str, Any]:
    """Who made a version is shown to the dataset's managers only."""
    dataset = _visible_dataset(db, name, user)
    manager = access.can_manage(dataset, user)
    rows = service.schema_versions(db, dataset=dataset)
    return {
        "versions": [
            schema_version_dict(r, current=dataset.schema_version, with_author=manager)
            for r in rows
        ]
    }


# --- loads --------------------------------------------------------------------------------


def _choice(value: str, enum: type[LoadMode] | type[OnError], key: str) -> str:
    try:
        return enum(value.strip().lower()).value
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidInput(f"{key}={value!r}: use one of {allowed}.") from None


@router.post("/api/data/{name}/loads", status_code=201, summary="Upload a file into a dataset")
def create_load(
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
    name: str,
    file: Annotated[UploadFile, File(description="CSV, TSV, XLSX, JSON, NDJSON, GeoJSON, Parquet")],
    mode: Annotated[str, Form(description="append, replace or upsert")] = "append",
    on_error: Annotated[str, Form(description="reject or quarantine")] = "reject",
    encoding: Annotated[str | None, Form(description="Default: detected")] = None,
    delimiter: Annotated[str | None, Form(description="Default: detected")] = None,
    header: Annotated[bool | None, Form(description="Default: detected")] = None,
    sheet: Annotated[str | None, Form(description="XLSX sheet (default: the first)")] = None,
) -> Any:
    """Validate the file against the current schema and store it, all or nothing (or the
    valid rows with ``on_error=quarantine``). 201 with the load and its report when rows
    were stored; 422 with the report when the file was rejected (the load stays in the
    history)."""
    dataset = _managed_dataset(db, name, user)
    filename = readers.safe_filename(file.filename or "upload")
    limit_mb = upload_limit_mb(settings)
    if file.size is not None and file.size > limit_mb * 1024 * 1024:
        raise too_large(filename, limit_mb)
    schema = service.current_schema(db, dataset=dataset)
    if schema is None or dataset.schema_version is None:
        raise Unprocessable(
            f"{name} has no schema yet: PUT /api/data/{name}/schema first "
            "(POST /api/data/infer suggests one from this file)."
        )
    options = ingest.LoadOptions(
        mode=LoadMode(_choice(mode, LoadMode, "mode")),
        on_error=OnError(_choice(on_error, OnError, "on_error")),
        encoding=encoding or None,
        delimiter=delimiter or None,
        header=header,
        sheet=sheet or None,
    )
    with saved_upload(
        file.file, name=filename, limit_mb=limit_mb, suffix=Path(filename).suffix
    ) as path:
        load = ingest.load_file(
            db,
            dataset=dataset,
            schema=schema,
            version=dataset.schema_version,
            path=path,
            filename=filename,
            options=options,
            actor=actor,
            area_codes=geo_service.area_codes(db),
        )
    body = load_dict(load)
    if load.status == LoadStatus.REJECTED.value:
        return JSONResponse(body, status_code=422)
    return body


def _public_report(report: dict[str, Any]) -> dict[str, Any]:
    """A report without example values (they may be sensitive) for readers who don't manage
    the dataset."""
    errors = [
        {key: value for key, value in group.items() if key != "examples"}
        for group in report.get("errors", [])
        if isinstance(group, dict)
    ]
    return {**report, "errors": errors}


@router.get("/api/data/{name}/loads", summary="The load history, newest first")
def list_loads(db: SessionDep, user: OptionalUser, name: str) -> dict[str, Any]:
    """Who loaded is shown to the dataset's managers only."""
    dataset = _visible_dataset(db, name, user)
    manager = access.can_manage(dataset, user)
    loads = [load_dict(load, with_report=False) for load in service.list_loads(db, dataset=dataset)]
    return {"loads": loads if manager else [_anonymised(load) for load in loads]}


def _anonymised(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "actor": ""}


@router.get("/api/data/{name}/loads/{load_id}", summary="One load with its validation report")
def get_load(db: SessionDep, user: OptionalUser, name: str, load_id: int) -> dict[str, Any]:
    """Example values of the report, and who loaded, are shown to the dataset's managers
    only."""
    dataset = _visible_dataset(db, name, user)
    body = load_dict(service.get_load(db, dataset=dataset, load_id=load_id))
    if not access.can_manage(dataset, user):
        body = _anonymised({**body, "report": _public_report(body["report"] or {})})
    return body


@router.get(
    "/api/data/{name}/loads/{load_id}/quarantine", summary="Rows a partial load did not store"
)
def get_quarantine(
    db: SessionDep,
    user: CurrentUser,
    name: str,
    load_id: int,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_QUARANTINE)] = 100,
) -> dict[str, Any]:
    dataset = _managed_dataset(db, name, user)
    load = service.get_load(db, dataset=dataset, load_id=load_id)
    rows, total = service.quarantined_rows(db, load=load, offset=offset, limit=limit)
    return {"load": load.id, "total": total, "rows": [quarantined_dict(r) for r in rows]}


# --- inference ----------------------------------------------------------------------------


@router.post("/api/data/infer", summary="Suggest a Table Schema for a file")
def infer_schema(
    db: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File()],
    encoding: Annotated[str | None, Form()] = None,
    delimiter: Annotated[str | None, Form()] = None,
    header: Annotated[bool | None, Form()] = None,
    sheet: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    """Types and likely data elements from the first rows; the steward checks the result
    and sends it to ``PUT /api/data/{name}/schema``."""
    filename = readers.safe_filename(file.filename or "upload")
    limit_mb = upload_limit_mb(settings)
    with saved_upload(
        file.file, name=filename, limit_mb=limit_mb, suffix=Path(filename).suffix
    ) as path:
        return sample.infer_file(
            db,
            path=path,
            filename=filename,
            encoding=encoding or None,
            delimiter=delimiter or None,
            header=header,
            sheet=sheet or None,
            rows=INFER_ROWS,
        )


# --- attached files -----------------------------------------------------------------------


def attachment(filename: str) -> str:
    """A Content-Disposition for ``filename`` (RFC 6266: ASCII fallback + UTF-8 name)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.post("/api/data/{name}/resources", status_code=201, summary="Attach a file")
def attach_resource(
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
    name: str,
    file: Annotated[UploadFile, File()],
    description: Annotated[str, Form(max_length=2000)] = "",
) -> dict[str, Any]:
    dataset = _managed_dataset(db, name, user)
    filename = readers.safe_filename(file.filename or "file")
    content = read_limited(file.file, name=filename, limit_mb=settings.max_upload_mb)
    resource = service.attach_file(
        db,
        dataset=dataset,
        filename=filename,
        content=content,
        description=description.strip(),
        actor=actor,
    )
    return resource_dict(resource, dataset)


@router.get("/api/data/{name}/resources/{uuid}", summary="Download an attached file")
def download_resource(db: SessionDep, user: OptionalUser, name: str, uuid: str) -> Response:
    dataset = _visible_dataset(db, name, user)
    resource = service.get_resource(db, uuid=uuid)
    if resource.dataset_id != dataset.id:
        raise NotFound(f"{name} has no resource {uuid!r}.")
    schema = service.current_schema(db, dataset=dataset)
    access.require_read(db, dataset=dataset, schema=schema, user=user)
    if resource.kind == "table":
        return RedirectResponse(f"/api/data/{name}/download.csv", status_code=307)
    service.record_usage(db, dataset=dataset, downloads=1)
    return Response(
        resource.content or b"",
        media_type=resource.media_type or "application/octet-stream",
        headers={
            "content-disposition": attachment(resource.name),
            "x-content-type-options": "nosniff",
        },
    )
