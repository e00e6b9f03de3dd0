"""The areas page: a Leaflet map of the hierarchy and grid; admins import and generate here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response

from cityos.auth.models import Role
from cityos.deps import ActorDep, AdminUser, CurrentUser, SessionDep, SettingsDep
from cityos.errors import CityOSError
from cityos.geo import grid, importer
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel
from cityos.web.render import PageDep

router = APIRouter(include_in_schema=False)


def _context(db: SessionDep, user: CurrentUser) -> dict[str, object]:
    non_grid = [level for level in AreaLevel if level is not AreaLevel.GRID]
    return {
        "counts": geo_service.level_counts(db),
        "levels": list(AreaLevel),
        "can_edit": user.has_role(Role.ADMIN),
        "parents": [a for level in non_grid for a in geo_service.list_areas(db, level=level)],
    }


@router.get("/admin/areas", response_class=HTMLResponse)
def areas_page(page: PageDep, db: SessionDep, user: CurrentUser) -> HTMLResponse:
    return page.render("admin/areas.html", _context(db, user))


@router.post("/admin/areas/import")
async def import_areas(
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    admin: AdminUser,
    file: Annotated[UploadFile, File()],
    level: Annotated[str, Form()],
    code_property: Annotated[str, Form()],
    name_property: Annotated[str, Form()],
    name_en_property: Annotated[str, Form()] = "",
) -> Response:
    limit = int(settings.max_upload_mb * 1024 * 1024)
    try:
        if file.size is not None:
            importer.check_size(file.size, limit)  # before reading it into memory
        data = await file.read()
        report = importer.import_geojson(
            db,
            data=data,
            level=geo_service.parse_level(level),
            code_property=code_property.strip(),
            name_property=name_property.strip(),
            name_en_property=name_en_property.strip() or None,
            max_bytes=limit,
            actor=actor,
        )
    except CityOSError as error:
        db.rollback()
        context = {**_context(db, admin), "error": error.message, "problems": error.details}
        return page.render("admin/areas.html", context, status_code=error.status_code)
    notice = page.t(
        "areas.imported",
        created=report.created,
        updated=report.updated,
        repaired=len(report.repaired),
    )
    context = {**_context(db, admin), "notice": notice, "repaired": report.repaired}
    return page.render("admin/areas.html", context)


@router.post("/admin/areas/grid")
def generate_grid(
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    admin: AdminUser,
    within: Annotated[str, Form()],
    kind: Annotated[str, Form()] = "square",
    size: Annotated[float, Form()] = 500,
    replace: Annotated[str, Form()] = "",
) -> Response:
    try:
        square = kind == "square"
        report = grid.generate_grid(
            db,
            within_code=within,
            cell_size_m=size if square else None,
            h3_resolution=None if square else int(size),
            replace=replace == "on",
            actor=actor,
        )
    except CityOSError as error:
        db.rollback()
        context = {**_context(db, admin), "error": error.message}
        return page.render("admin/areas.html", context, status_code=error.status_code)
    notice = page.t("areas.grid_done", created=report.created, within=within)
    return page.render("admin/areas.html", {**_context(db, admin), "notice": notice})
