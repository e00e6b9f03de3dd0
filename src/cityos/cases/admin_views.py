"""Admin pages of the service catalog (/admin/catalog) and of routing (/admin/routing).

Operators and admins see them; only admins change anything. The category form builds the
same document as a catalog file, so the checks (and the messages) are those of an import.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import zip_longest
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cityos.auth import service as auth_service
from cityos.auth.models import Role, User
from cityos.cases import catalog, catalog_file, routing
from cityos.cases.models import AttributeType, Category, Priority
from cityos.deps import ActorDep, AdminUser, SessionDep, SettingsDep, require_role
from cityos.errors import CityOSError, PayloadTooLarge
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)

OperatorUser = Annotated[User, Depends(require_role(Role.OPERATOR), scope="function")]
LIST_TYPES = {AttributeType.SINGLEVALUELIST.value, AttributeType.MULTIVALUELIST.value}
MAP_LEVELS = (AreaLevel.DISTRICT, AreaLevel.SUBDISTRICT, AreaLevel.GRID)
ROUTING_NOTICES = {"saved", "deleted"}
KEYWORD_SEPARATORS = re.compile(r"[,，、;；\n]+")


def _hours(value: float) -> str:
    return f"{value:g}"


def sla_summary(sla: Mapping[str, Mapping[str, float]]) -> list[tuple[str, str]]:
    """``[("urgent", "1 / 12"), ...]`` in priority order: hours to acknowledge / resolve."""
    return [
        (
            p.value,
            f"{_hours(sla[p.value]['acknowledge_hours'])} / "
            f"{_hours(sla[p.value]['resolve_hours'])}",
        )
        for p in Priority
        if p.value in sla
    ]


# --- the catalog page --------------------------------------------------------------------


def _catalog_context(db: SessionDep, user: User) -> dict[str, Any]:
    groups = catalog.list_groups(db)
    categories = catalog.list_categories(db, include_inactive=True)
    departments = catalog.department_codes(db)
    rules = Counter(rule.service_code for rule in routing.list_rules(db))
    per_group = Counter(category.group_id for category in categories)
    order = {group.id: position for position, group in enumerate(groups)}
    rows = [
        {
            "category": category,
            "department": departments.get(category.default_department_id or -1),
            "sla": sla_summary(category.sla),
            "rules": rules.get(category.service_code, 0),
        }
        for category in sorted(
            categories, key=lambda c: (order.get(c.group_id, 999), c.service_code)
        )
    ]
    return {
        "groups": groups,
        "group_counts": per_group,
        "rows": rows,
        "can_edit": user.has_role(Role.ADMIN),
    }


@router.get("/admin/catalog", response_class=HTMLResponse)
def catalog_page(page: PageDep, db: SessionDep, user: OperatorUser) -> HTMLResponse:
    return page.render("cases/admin_catalog.html", _catalog_context(db, user))


@router.get("/admin/catalog/export.{fmt}")
def download_catalog(db: SessionDep, _user: OperatorUser, fmt: str) -> Response:
    kind = catalog_file.format_for(f"catalog.{fmt}")
    text = catalog_file.dumps(catalog_file.export_document(db), fmt=kind)
    media = "application/yaml" if kind == "yaml" else "application/json"
    return Response(
        text.encode("utf-8"),
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="cityos-catalog.{fmt}"'},
    )


@router.post("/admin/catalog/import")
async def upload_catalog(
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    admin: AdminUser,
    file: Annotated[UploadFile, File()],
    replace_rules: Annotated[str, Form()] = "",
) -> Response:
    limit = int(settings.max_upload_mb * 1024 * 1024)
    name = file.filename or "catalog"
    try:
        fmt = catalog_file.format_for(name)
        if file.size is not None and file.size > limit:
            raise PayloadTooLarge(f"{name} is larger than {settings.max_upload_mb:g} MB.")
        data = catalog_file.loads(await file.read(), fmt=fmt, name=name)
        report = catalog_file.import_document(
            db, data, actor=actor, replace_rules=replace_rules == "on"
        )
    except CityOSError as error:
        db.rollback()
        context = {
            **_catalog_context(db, admin),
            "error": error.message,
            "problems": error.details if isinstance(error.details, list) else [],
        }
        return page.render("cases/admin_catalog.html", context, status_code=error.status_code)
    notice = page.t("catalog_admin.imported", **report.to_dict())
    return page.render(
        "cases/admin_catalog.html", {**_catalog_context(db, admin), "notice": notice}
    )


@router.post("/admin/catalog/groups")
def save_group(
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    admin: AdminUser,
    code: Annotated[str, Form()],
    name_zh: Annotated[str, Form()],
    name_en: Annotated[str, Form()],
) -> Response:
    try:
        catalog_file.save_group(db, code=code, name_zh=name_zh, name_en=name_en, actor=actor)
    except CityOSError as error:
        db.rollback()
        context = {**_catalog_context(db, admin), "error": error.message}
        return page.render("cases/admin_catalog.html", context, status_code=error.status_code)
    notice = page.t("catalog_admin.group_saved", code=code.strip())
    return page.render(
        "cases/admin_catalog.html", {**_catalog_context(db, admin), "notice": notice}
    )


@router.post("/admin/catalog/services/{code}/active")
def set_active(
    db: SessionDep,
    actor: ActorDep,
    _admin: AdminUser,
    code: str,
    active: Annotated[str, Form()],
) -> Response:
    catalog.set_category_active(db, service_code=code, active=active == "1", actor=actor)
    return RedirectResponse("/admin/catalog", status_code=303)


# --- the category form -------------------------------------------------------------------


def _values_text(values: Sequence[Mapping[str, str]]) -> str:
    return "\n".join(
        " | ".join([v.get("key", ""), v.get("name_zh", ""), v.get("name_en", "")]) for v in values
    )


def _parse_values(text: str) -> list[dict[str, str]]:
    """``key | 中文 | English`` per line → value dicts (missing parts left out, so the
    document check names them)."""
    values: list[dict[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|", 2)]
        values.append(
            {
                key: part
                for key, part in zip(("key", "name_zh", "name_en"), parts, strict=False)
                if part
            }
        )
    return values


def state_of(category: Category, departments: dict[int, str]) -> dict[str, Any]:
    """What the form shows for an existing category."""
    state = catalog.category_to_doc(category, departments).model_dump(mode="json")
    for attribute in state["attributes"]:
        attribute["values_text"] = _values_text(attribute["values"])
    state["keywords_text"] = ", ".join(state["keywords"])
    return state


def _blank_state() -> dict[str, Any]:
    return {
        "service_code": "",
        "group": "",
        "name_zh": "",
        "name_en": "",
        "description_zh": "",
        "description_en": "",
        "keywords_text": "",
        "department": None,
        "priority": Priority.NORMAL.value,
        "photo_required": False,
        "duplicate_radius_m": 50,
        "sla": {},
        "attributes": [],
        "active": True,
    }


async def _read_form(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """The submitted category: (what to show again, the document to save)."""
    form = await request.form()

    def one(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def many(name: str) -> list[str]:
        return [value.strip() if isinstance(value, str) else "" for value in form.getlist(name)]

    sla: dict[str, dict[str, str | None]] = {}
    for priority in Priority:
        acknowledge = one(f"sla_{priority.value}_acknowledge")
        resolve = one(f"sla_{priority.value}_resolve")
        if acknowledge or resolve:
            sla[priority.value] = {
                "acknowledge_hours": acknowledge or None,
                "resolve_hours": resolve or None,
            }
    columns = [
        many(name)
        for name in (
            "attr_code",
            "attr_datatype",
            "attr_required",
            "attr_variable",
            "attr_description_zh",
            "attr_description_en",
            "attr_datatype_description",
            "attr_values",
        )
    ]
    shown: list[dict[str, Any]] = []
    saved: list[dict[str, Any]] = []
    for code, datatype, required, variable, zh, en, hint, values in zip_longest(
        *columns, fillvalue=""
    ):
        if not (code or zh or en or values):
            continue  # an empty row
        attribute: dict[str, Any] = {
            "code": code,
            "datatype": datatype,
            "required": required == "1",
            "variable": variable != "0",
            "description_zh": zh,
            "description_en": en,
            "datatype_description": hint,
        }
        saved.append({**attribute, "values": _parse_values(values)})
        shown.append({**attribute, "values_text": values})
    keywords_text = one("keywords")
    common = {
        "service_code": one("service_code"),
        "group": one("group"),
        "name_zh": one("name_zh"),
        "name_en": one("name_en"),
        "description_zh": one("description_zh"),
        "description_en": one("description_en"),
        "department": one("department") or None,
        "priority": one("priority") or Priority.NORMAL.value,
        "photo_required": one("photo_required") == "on",
        "sla": sla,
        "active": one("active") == "on",
    }
    if one("duplicate_radius_m"):
        common["duplicate_radius_m"] = one("duplicate_radius_m")
    keywords = [word.strip() for word in KEYWORD_SEPARATORS.split(keywords_text) if word.strip()]
    return (
        {**common, "keywords_text": keywords_text, "attributes": shown},
        {**common, "keywords": keywords, "attributes": saved},
    )


def _form_context(
    db: SessionDep, user: User, state: Mapping[str, Any], *, create: bool
) -> dict[str, Any]:
    return {
        "form": state,
        "create": create,
        "groups": catalog.list_groups(db),
        "departments": auth_service.list_departments(db),
        "priorities": [p.value for p in Priority],
        "datatypes": [t.value for t in AttributeType],
        "list_types": LIST_TYPES,
        "can_edit": user.has_role(Role.ADMIN),
        "rules": routing.list_rules(db, service_code=state["service_code"])
        if not create and state.get("service_code")
        else [],
    }


def _render_form(
    page: Page,
    db: SessionDep,
    user: User,
    state: Mapping[str, Any],
    *,
    create: bool,
    error: CityOSError | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    context = _form_context(db, user, state, create=create)
    if error is not None:
        context["error"] = error.message
        context["problems"] = error.details if isinstance(error.details, list) else []
    if notice:
        context["notice"] = notice
    status = error.status_code if error is not None else 200
    return page.render("cases/admin_category.html", context, status_code=status)


@router.get("/admin/catalog/new", response_class=HTMLResponse)
def new_category_form(page: PageDep, db: SessionDep, admin: AdminUser) -> HTMLResponse:
    return _render_form(page, db, admin, _blank_state(), create=True)


@router.post("/admin/catalog/new")
async def create_category(
    request: Request, page: PageDep, db: SessionDep, actor: ActorDep, admin: AdminUser
) -> Response:
    state, data = await _read_form(request)
    try:
        doc = catalog_file.save_category(db, data, actor=actor, create=True)
    except CityOSError as error:
        db.rollback()
        return _render_form(page, db, admin, state, create=True, error=error)
    return RedirectResponse(f"/admin/catalog/services/{doc.service_code}?saved=1", status_code=303)


@router.get("/admin/catalog/services/{code}", response_class=HTMLResponse)
def category_form(
    page: PageDep, db: SessionDep, user: OperatorUser, code: str, saved: str = ""
) -> HTMLResponse:
    category = catalog.get_category(db, service_code=code)
    state = state_of(category, catalog.department_codes(db))
    notice = page.t("catalog_admin.saved", code=code) if saved else None
    return _render_form(page, db, user, state, create=False, notice=notice)


@router.post("/admin/catalog/services/{code}")
async def update_category(
    request: Request,
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    admin: AdminUser,
    code: str,
) -> Response:
    catalog.get_category(db, service_code=code)  # 404 for an unknown code
    state, data = await _read_form(request)
    state["service_code"] = data["service_code"] = code  # a code never changes
    try:
        catalog_file.save_category(db, data, actor=actor, create=False)
    except CityOSError as error:
        db.rollback()
        return _render_form(page, db, admin, state, create=False, error=error)
    return RedirectResponse(f"/admin/catalog/services/{code}?saved=1", status_code=303)


# --- routing -----------------------------------------------------------------------------


def _routing_context(db: SessionDep, user: User, service: str) -> dict[str, Any]:
    categories = catalog.list_categories(db, include_inactive=True)
    codes = {category.service_code for category in categories}
    chosen = service if service in codes else ""
    rules = routing.list_rules(db, service_code=chosen or None)
    names = {category.service_code: category for category in categories}
    map_service = (
        chosen
        or (rules[0].service_code if rules else "")
        or (categories[0].service_code if categories else "")
    )
    return {
        "service": chosen,
        "rules": rules,
        "names": names,
        "categories": categories,
        "departments": auth_service.list_departments(db),
        "areas": [
            area
            for level in (AreaLevel.CITY, AreaLevel.DISTRICT, AreaLevel.SUBDISTRICT)
            for area in geo_service.list_areas(db, level=level)
        ],
        "map_service": map_service,
        "map_levels": [level.value for level in MAP_LEVELS],
        "can_edit": user.has_role(Role.ADMIN),
    }


@router.get("/admin/routing", response_class=HTMLResponse)
def routing_page(
    page: PageDep, db: SessionDep, user: OperatorUser, service: str = "", done: str = ""
) -> HTMLResponse:
    context = _routing_context(db, user, service.strip())
    if done in ROUTING_NOTICES:
        context["notice"] = page.t(f"routing_admin.done_{done}")
    return page.render("cases/admin_routing.html", context)


@router.post("/admin/routing/rules")
def add_rule(
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    admin: AdminUser,
    service_code: Annotated[str, Form()],
    area: Annotated[str, Form()],
    department: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
) -> Response:
    try:
        routing.set_rule(
            db,
            service_code=service_code.strip(),
            area_code=area.strip(),
            department_code=department.strip(),
            note=note,
            actor=actor,
        )
    except CityOSError as error:
        db.rollback()
        context = {
            **_routing_context(db, admin, service_code.strip()),
            "error": error.message,
            "typed": {
                "service_code": service_code,
                "area": area,
                "department": department,
                "note": note,
            },
        }
        return page.render("cases/admin_routing.html", context, status_code=error.status_code)
    return RedirectResponse(
        f"/admin/routing?service={quote(service_code.strip(), safe='')}&done=saved", status_code=303
    )


@router.post("/admin/routing/rules/{rule_id}/delete")
def remove_rule(
    db: SessionDep,
    actor: ActorDep,
    _admin: AdminUser,
    rule_id: int,
    service: Annotated[str, Form()] = "",
) -> Response:
    routing.delete_rule(db, rule_id=rule_id, actor=actor)
    return RedirectResponse(
        f"/admin/routing?service={quote(service.strip(), safe='')}&done=deleted", status_code=303
    )
