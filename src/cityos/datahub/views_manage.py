"""A dataset's settings page (/data/{name}/manage), for those who may manage it: edit the
metadata and the access level, change the schema (a change that breaks the stored rows is
listed, with the choice to start a new, empty version), attach files, delete the dataset.

Every form posts here with the CSRF token and calls the service (which checks and audits);
a refused form comes back with what was typed and the message saying what to fix.
"""

from __future__ import annotations

import json
from datetime import date
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cityos.audit.service import Actor
from cityos.auth.models import User
from cityos.datahub import access as access_rules
from cityos.datahub import readers, service
from cityos.datahub.models import Access, Dataset, Frequency, ResourceKind
from cityos.datahub.uploads import read_limited, too_large
from cityos.datahub.views_common import form_lists, problem_lines, render, title_in
from cityos.datahub.views_steward import parse_schema_text
from cityos.datahub.vocab import LICENCES, THEMES
from cityos.deps import ActorDep, CurrentUser, SessionDep, SettingsDep
from cityos.errors import CityOSError, InvalidInput
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)
MANAGE = "datahub/manage.html"
TEXT_KEYS = (
    "title_zh",
    "title_en",
    "description_zh",
    "description_en",
    "keywords",
    "licence",
    "frequency",
    "spatial",
    "temporal_start",
    "temporal_end",
    "contact_name",
    "contact_email",
    "access",
)
MAX_NOTE = 500
MAX_DESCRIPTION = 2000
NOTICES = frozenset({"saved", "unchanged", "schema_set", "schema_same", "attached"})


def _day(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def current_values(dataset: Dataset) -> dict[str, Any]:
    """The dataset's metadata as the form shows it."""
    return {
        "title_zh": dataset.title_zh or "",
        "title_en": dataset.title_en or "",
        "description_zh": dataset.description_zh or "",
        "description_en": dataset.description_en or "",
        "keywords": ", ".join(dataset.keywords or []),
        "licence": dataset.licence,
        "frequency": dataset.frequency,
        "spatial": dataset.spatial or "",
        "temporal_start": _day(dataset.temporal_start),
        "temporal_end": _day(dataset.temporal_end),
        "contact_name": dataset.contact_name or "",
        "contact_email": dataset.contact_email or "",
        "access": dataset.access,
        "themes": list(dataset.themes or []),
    }


def typed_values(fields: dict[str, list[str]]) -> dict[str, Any]:
    """The metadata form as posted (trimmed texts, the ticked themes)."""
    typed: dict[str, Any] = {key: (fields.get(key) or [""])[-1].strip() for key in TEXT_KEYS}
    typed["themes"] = [value for value in fields.get("themes", []) if value]
    return typed


def schema_text(db: Session, dataset: Dataset) -> str:
    schema = service.current_schema(db, dataset=dataset)
    if schema is None:
        return ""
    return json.dumps(schema.to_descriptor(), ensure_ascii=False, indent=2)


def managed(db: Session, name: str, user: User) -> Dataset:
    """The dataset, when ``user`` may manage it (404 / 403 otherwise)."""
    dataset = service.get_dataset(db, name=name)
    access_rules.require_manage(dataset, user)
    return dataset


def manage_context(db: Session, page: Page, dataset: Dataset, **typed: Any) -> dict[str, Any]:
    """The page's context; ``typed`` overrides what the forms show (``typed``: metadata,
    ``schema_text``, ``note``)."""
    files = [r for r in service.resources(db, dataset=dataset) if r.kind == ResourceKind.FILE.value]
    context: dict[str, Any] = {
        "dataset": dataset,
        "title": title_in(dataset, page.language),
        "typed": current_values(dataset),
        "schema_text": schema_text(db, dataset),
        "note": "",
        "versions": service.schema_versions(db, dataset=dataset),
        "files": files,
        "prefix": "manage",
        "themes": THEMES,
        "licences": LICENCES,
        "frequencies": [f.value for f in Frequency],
        "accesses": [a.value for a in Access],
        "max_upload_mb": page.request.app.state.settings.max_upload_mb,
    }
    context.update(typed)
    return context


def _refused(
    page: Page, db: Session, name: str, user: User, error: CityOSError, **typed: Any
) -> HTMLResponse:
    """The page again, with the message, its details and what was typed."""
    db.rollback()
    dataset = managed(db, name, user)
    context = {
        **manage_context(db, page, dataset, **typed),
        "error": error.message,
        "problems": problem_lines(error.details),
    }
    return render(page, MANAGE, context, status_code=error.status_code)


def _done(name: str, notice: str, anchor: str) -> RedirectResponse:
    return RedirectResponse(f"/data/{name}/manage?notice={notice}#{anchor}", status_code=303)


@router.get("/data/{name}/manage", response_class=HTMLResponse)
def manage_page(name: str, page: PageDep, db: SessionDep, user: CurrentUser) -> HTMLResponse:
    dataset = managed(db, name, user)
    context = manage_context(db, page, dataset)
    notice = page.request.query_params.get("notice", "")
    if notice in NOTICES:
        context["notice"] = page.t(f"datahub.notice.{notice}")
    return render(page, MANAGE, context)


# --- metadata and access --------------------------------------------------------------------


def save_metadata(
    page: Page, db: Session, *, name: str, user: User, actor: Actor, fields: dict[str, list[str]]
) -> Response:
    dataset = managed(db, name, user)
    typed = typed_values(fields)
    now = current_values(dataset)
    changes = {key: value for key, value in typed.items() if value != now.get(key)}
    if "title_zh" in changes or "title_en" in changes:  # a title may go when the other stays
        changes.update(title_zh=typed["title_zh"], title_en=typed["title_en"])
    if not changes:
        return _done(name, "unchanged", "metadata")
    try:
        service.update_dataset(db, name=name, changes=changes, actor=actor)
    except CityOSError as error:
        return _refused(page, db, name, user, error, typed=typed, failed="metadata")
    return _done(name, "saved", "metadata")


@router.post("/data/{name}/manage/metadata")
async def metadata_form(
    name: str, request: Request, page: PageDep, db: SessionDep, actor: ActorDep, user: CurrentUser
) -> Response:
    """The metadata form (titles, descriptions, themes, licence, access level, …)."""
    fields = await form_lists(request)
    return await run_in_threadpool(
        partial(save_metadata, page, db, name=name, user=user, actor=actor, fields=fields)
    )


# --- the schema -----------------------------------------------------------------------------


def save_schema(
    page: Page, db: Session, *, name: str, user: User, actor: Actor, fields: dict[str, list[str]]
) -> Response:
    dataset = managed(db, name, user)
    text = (fields.get("schema") or [""])[-1]
    note = (fields.get("note") or [""])[-1].strip()
    migration = (fields.get("migration") or [""])[-1].strip()
    before = dataset.schema_version
    typed = {"schema_text": text, "note": note, "failed": "schema"}
    try:
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"The note is longer than {MAX_NOTE} characters: shorten it.")
        if migration not in ("", "empty"):
            raise InvalidInput(
                f"migration={migration!r}: leave it out, or 'empty' to start the new version empty."
            )
        descriptor = parse_schema_text(text)
        row = service.set_schema(
            db,
            name=name,
            descriptor=descriptor,
            actor=actor,
            note=note,
            migration=migration or None,
        )
    except CityOSError as error:
        breaking = error.status_code == 409 and not migration
        return _refused(page, db, name, user, error, breaking=breaking, **typed)
    return _done(name, "schema_same" if row.version == before else "schema_set", "schema")


@router.post("/data/{name}/manage/schema")
async def schema_form(
    name: str, request: Request, page: PageDep, db: SessionDep, actor: ActorDep, user: CurrentUser
) -> Response:
    """A new schema version (``migration=empty`` after confirming a breaking change)."""
    fields = await form_lists(request)
    return await run_in_threadpool(
        partial(save_schema, page, db, name=name, user=user, actor=actor, fields=fields)
    )


# --- attached files -------------------------------------------------------------------------


@router.post("/data/{name}/manage/files")
def attach_form(
    name: str,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
    file: Annotated[UploadFile | None, File()] = None,
    description: Annotated[str, Form()] = "",
) -> Response:
    """Attach a file (a PDF, a zipped shapefile, …), at most ``max_upload_mb``."""
    dataset = managed(db, name, user)
    description = description.strip()
    limit_mb = float(settings.max_upload_mb)
    try:
        if file is None or not file.filename:
            raise InvalidInput("Choose a file to attach.")
        filename = readers.safe_filename(file.filename)
        if len(description) > MAX_DESCRIPTION:
            raise InvalidInput(
                f"The description is longer than {MAX_DESCRIPTION} characters: shorten it."
            )
        if file.size is not None and file.size > limit_mb * 1024 * 1024:
            raise too_large(filename, limit_mb)
        content = read_limited(file.file, name=filename, limit_mb=limit_mb)
        service.attach_file(
            db,
            dataset=dataset,
            filename=filename,
            content=content,
            description=description,
            actor=actor,
        )
    except CityOSError as error:
        return _refused(page, db, name, user, error, file_description=description, failed="files")
    return _done(name, "attached", "files")


# --- deleting -------------------------------------------------------------------------------


@router.post("/data/{name}/manage/delete")
async def delete_form(
    name: str, request: Request, page: PageDep, db: SessionDep, actor: ActorDep, user: CurrentUser
) -> Response:
    """Delete the dataset once its name is typed to confirm."""
    fields = await form_lists(request)
    return await run_in_threadpool(
        partial(delete_dataset, page, db, name=name, user=user, actor=actor, fields=fields)
    )


def delete_dataset(
    page: Page, db: Session, *, name: str, user: User, actor: Actor, fields: dict[str, list[str]]
) -> Response:
    managed(db, name, user)
    typed = (fields.get("confirm") or [""])[-1].strip()
    try:
        if typed != name:
            raise InvalidInput(
                f"To delete the dataset, type its name ({name}) in the box; "
                + (f"{typed!r} is not its name." if typed else "the box was empty.")
            )
        service.delete_dataset(db, name=name, actor=actor)
    except CityOSError as error:
        return _refused(page, db, name, user, error, confirm=typed, failed="delete")
    return RedirectResponse("/data/steward?notice=deleted", status_code=303)
