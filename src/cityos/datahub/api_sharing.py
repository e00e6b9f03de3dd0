"""Sharing requests, data elements, quality and metrics of the data hub JSON API.

Included in :data:`cityos.datahub.api.router`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cityos.auth.models import User
from cityos.datahub import access, elements, quality, service, sharing
from cityos.datahub.api_schemas import (
    DecisionIn,
    ElementIn,
    ElementPatch,
    RequestIn,
    RevokeIn,
    element_dict,
    request_dict,
)
from cityos.datahub.models import SharingRequest
from cityos.db import utcnow
from cityos.deps import ActorDep, AdminUser, CurrentUser, OptionalUser, SessionDep
from cityos.errors import NotFound

router = APIRouter(tags=["data hub"])


def _request_body(db: SessionDep, request: SharingRequest) -> dict[str, Any]:
    dataset = sharing.dataset_of(db, request)
    return request_dict(request, dataset, state=sharing.request_state(request))


# --- sharing requests ---------------------------------------------------------------------


@router.post(
    "/api/data/{name}/requests", status_code=201, summary="Ask for access for your department"
)
def create_request(
    db: SessionDep, actor: ActorDep, user: CurrentUser, name: str, body: RequestIn
) -> dict[str, Any]:
    """For restricted datasets, or for the sensitive fields of shared and open ones. The
    publishing department's stewards decide."""
    dataset = service.get_dataset(db, name=name)
    request = sharing.request_access(
        db, dataset=dataset, user=user, purpose=body.purpose, fields=body.fields, actor=actor
    )
    return _request_body(db, request)


@router.get("/api/data-requests", summary="Sharing requests your department sent or received")
def list_requests(
    db: SessionDep,
    user: CurrentUser,
    role: Annotated[
        str, Query(description="incoming (for your datasets), outgoing (yours) or all")
    ] = "all",
    status: Annotated[
        str | None, Query(description="pending, approved, refused, revoked or expired")
    ] = None,
    dataset: Annotated[str | None, Query(description="Only this dataset's requests")] = None,
) -> dict[str, Any]:
    chosen = service.get_dataset(db, name=dataset) if dataset else None
    found = sharing.list_requests(db, user=user, role=role, status=status, dataset=chosen)
    return {"requests": [_request_body(db, request) for request in found]}


def _own_request(db: SessionDep, request_id: int, user: User) -> SharingRequest:
    request = sharing.get_request(db, request_id=request_id)
    dataset = sharing.dataset_of(db, request)
    if not (access.can_manage(dataset, user) or request.department_id == user.department_id):
        raise NotFound(f"There is no sharing request #{request_id} for your department.")
    return request


@router.get("/api/data-requests/{request_id}", summary="One sharing request")
def get_request(db: SessionDep, user: CurrentUser, request_id: int) -> dict[str, Any]:
    return _request_body(db, _own_request(db, request_id, user))


@router.post("/api/data-requests/{request_id}/decision", summary="Approve or refuse a request")
def decide_request(
    db: SessionDep, actor: ActorDep, user: CurrentUser, request_id: int, body: DecisionIn
) -> dict[str, Any]:
    """Stewards and staff of the publishing department (or admins) decide once; an approval
    may grant fewer fields than asked and end at ``expires_at``."""
    _own_request(db, request_id, user)
    request = sharing.decide_request(
        db,
        request_id=request_id,
        approve=body.decision == "approve",
        user=user,
        fields=body.fields,
        expires_at=body.expires_at,
        note=body.note,
        actor=actor,
    )
    return _request_body(db, request)


@router.post("/api/data-requests/{request_id}/revoke", summary="Revoke a grant")
def revoke_request(
    db: SessionDep,
    actor: ActorDep,
    user: CurrentUser,
    request_id: int,
    body: RevokeIn | None = None,
) -> dict[str, Any]:
    _own_request(db, request_id, user)
    request = sharing.revoke_grant(
        db, request_id=request_id, user=user, note=body.note if body else "", actor=actor
    )
    return _request_body(db, request)


# --- data elements (the city's field standard) ---------------------------------------------


@router.get("/api/data-elements", summary="The shared data elements")
def list_elements(db: SessionDep) -> dict[str, Any]:
    return {"elements": [element_dict(e) for e in elements.list_elements(db)]}


@router.post("/api/data-elements", status_code=201, summary="Add a data element (admins)")
def create_element(
    db: SessionDep, actor: ActorDep, user: AdminUser, body: ElementIn
) -> dict[str, Any]:
    """The element library is the city's standard: admins keep it."""
    element = elements.create_element(db, data=body.model_dump(), actor=actor)
    return element_dict(element)


@router.get("/api/data-elements/{code}", summary="One data element")
def get_element(db: SessionDep, code: str) -> dict[str, Any]:
    return element_dict(elements.get_element(db, code=code))


@router.put("/api/data-elements/{code}", summary="Change a data element (admins)")
def update_element(
    db: SessionDep, actor: ActorDep, user: AdminUser, code: str, body: ElementPatch
) -> dict[str, Any]:
    """A built-in element's sensitivity can't be lowered (409)."""
    element = elements.update_element(
        db, code=code, changes=body.model_dump(exclude_unset=True), actor=actor
    )
    return element_dict(element)


# --- quality and metrics ------------------------------------------------------------------


@router.get("/api/data/{name}/quality", summary="Completeness, validity, freshness, usage")
def dataset_quality(db: SessionDep, user: OptionalUser, name: str) -> dict[str, Any]:
    """Per-field completeness leaves out the fields hidden from the caller."""
    dataset = service.get_dataset(db, name=name)
    access.require_metadata(dataset, user)
    schema = service.current_schema(db, dataset=dataset)
    readable = access.read_access(db, dataset=dataset, schema=schema, user=user)
    figures = quality.dataset_quality(
        db, dataset=dataset, now=utcnow(), schema=schema, access=readable
    )
    return {"name": dataset.name, **figures.to_dict()}


@router.get("/api/data-metrics", summary="Publishing and sharing figures per department and city")
def hub_metrics(
    db: SessionDep,
    user: CurrentUser,
    department: Annotated[str | None, Query(description="Only this department")] = None,
) -> dict[str, Any]:
    return quality.hub_metrics(db, now=utcnow(), department_code=department)
