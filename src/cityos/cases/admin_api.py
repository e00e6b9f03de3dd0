"""The JSON API of the service catalog and of routing rules.

The catalog is public information (``GET /api/cases/catalog``); replacing it needs the admin
role. Routing rules and the ownership map are for operators and admins; changing rules needs
the admin role.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from cityos.auth import service as auth_service
from cityos.auth.models import Role, User
from cityos.cases import catalog, catalog_file, routing
from cityos.cases.catalog import CatalogDocument
from cityos.deps import ActorDep, AdminUser, SessionDep, require_role
from cityos.geo import service as geo_service

router = APIRouter(prefix="/api/cases", tags=["cases: catalog and routing"])

OperatorUser = Annotated[User, Depends(require_role(Role.OPERATOR), scope="function")]


class ImportReportOut(BaseModel):
    groups: int
    categories_created: int
    categories_updated: int
    categories_unchanged: int
    rules_set: int
    rules_unchanged: int
    rules_deleted: int


class RuleIn(BaseModel):
    service_code: str = Field(min_length=1, examples=["FLOOD-STREET"])
    area: str = Field(min_length=1, description="An area code (city, district, …).")
    department: str = Field(min_length=1, description="The code of the owning department.")
    note: str = Field("", max_length=500)


class RuleOut(BaseModel):
    id: int
    service_code: str
    area_code: str
    area_level: str
    department_code: str
    note: str


class OwnerOut(BaseModel):
    area_code: str
    department_code: str | None = Field(description="None: the case goes to triage.")
    source: str = Field(description="rule, default (the category's department) or triage.")
    rule_id: int | None
    rule_area_code: str | None = Field(description="The area whose rule decided.")


class DepartmentName(BaseModel):
    name_zh: str
    name_en: str


class OwnershipOut(BaseModel):
    service_code: str
    level: str
    default_department: str | None
    departments: dict[str, DepartmentName]
    areas: list[OwnerOut]


@router.get("/catalog", response_model=CatalogDocument, summary="The whole service catalog")
def get_catalog(db: SessionDep) -> dict[str, Any]:
    """Groups, categories (inactive ones too) and routing rules: the document that
    ``PUT /api/cases/catalog`` and ``cityos cases catalog import`` read."""
    return catalog_file.export_document(db)


@router.put(
    "/catalog",
    summary="Import a catalog document (all or nothing)",
    responses={422: {"description": "Every problem of the document, with its place."}},
)
def put_catalog(
    db: SessionDep,
    actor: ActorDep,
    _admin: AdminUser,
    document: Annotated[
        dict[str, Any],
        Body(description="A catalog document (the format of GET /api/cases/catalog)."),
    ],
    replace_rules: Annotated[
        bool, Query(description="Also delete routing rules the document does not list.")
    ] = False,
) -> ImportReportOut:
    """Create or update groups and categories by code and rules by (service, area). Nothing
    is written unless the whole document is valid; a 422 lists every problem."""
    report = catalog_file.import_document(db, document, actor=actor, replace_rules=replace_rules)
    return ImportReportOut(**report.to_dict())


def _rule_out(rule: routing.RuleView) -> RuleOut:
    return RuleOut(
        id=rule.id,
        service_code=rule.service_code,
        area_code=rule.area_code,
        area_level=rule.area_level,
        department_code=rule.department_code,
        note=rule.note,
    )


@router.get("/routing/rules", summary="Routing rules, optionally of one service")
def list_rules(
    db: SessionDep,
    _user: OperatorUser,
    service_code: Annotated[str | None, Query(description="Only this service's rules.")] = None,
) -> list[RuleOut]:
    return [_rule_out(rule) for rule in routing.list_rules(db, service_code=service_code or None)]


@router.post("/routing/rules", status_code=201, summary="Create or replace a routing rule")
def create_rule(db: SessionDep, actor: ActorDep, _admin: AdminUser, rule: RuleIn) -> RuleOut:
    """Cases of ``service_code`` inside ``area`` go to ``department`` (the finest area's
    rule wins). A rule for the same service and area is replaced."""
    saved = routing.set_rule(
        db,
        service_code=rule.service_code.strip(),
        area_code=rule.area.strip(),
        department_code=rule.department.strip(),
        note=rule.note,
        actor=actor,
    )
    return next(
        _rule_out(view)
        for view in routing.list_rules(db, service_code=rule.service_code.strip())
        if view.id == saved.id
    )


@router.delete("/routing/rules/{rule_id}", status_code=204, summary="Delete a routing rule")
def delete_rule(db: SessionDep, actor: ActorDep, _admin: AdminUser, rule_id: int) -> Response:
    routing.delete_rule(db, rule_id=rule_id, actor=actor)
    return Response(status_code=204)


def ownership_of(db: SessionDep, *, service_code: str, level: str) -> OwnershipOut:
    """Who receives a case of ``service_code`` in each area of ``level``."""
    chosen = geo_service.parse_level(level)
    owners = routing.ownership(db, service_code=service_code, level=chosen)
    category = catalog.get_category(db, service_code=service_code)
    departments = {d.id: d for d in auth_service.list_departments(db)}
    default = departments.get(category.default_department_id or -1)
    used = {owner.department_code for owner in owners if owner.department_code}
    return OwnershipOut(
        service_code=service_code,
        level=chosen.value,
        default_department=default.code if default else None,
        departments={
            d.code: DepartmentName(name_zh=d.name_zh, name_en=d.name_en)
            for d in departments.values()
            if d.code in used
        },
        areas=[
            OwnerOut(
                area_code=owner.area_code,
                department_code=owner.department_code,
                source="rule"
                if owner.rule_id is not None
                else ("default" if owner.department_code else "triage"),
                rule_id=owner.rule_id,
                rule_area_code=owner.rule_area_code,
            )
            for owner in owners
        ],
    )


@router.get("/routing/ownership", summary="Who owns a service in each area of a level")
def get_ownership(
    db: SessionDep,
    _user: OperatorUser,
    service_code: Annotated[str, Query(description="The service (category) code.")],
    level: Annotated[str, Query(description="district, subdistrict or grid.")] = "district",
) -> OwnershipOut:
    """For each area of ``level``: the department a case there would go to, and whether a
    rule (on the area or an ancestor), the category's default department or triage decides."""
    return ownership_of(db, service_code=service_code, level=level)
