"""The steward's area (/data/steward): the department's datasets with an upload form each,
sharing requests to decide and the department's own requests; and the new-dataset flow
(/data/new): metadata and a sample file → the inferred schema to confirm or edit → create
(and, optionally, load the file).

Forms post here (with the CSRF token) and call the same service functions as the JSON API,
so the checks and the messages are the API's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as FormFile

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import Role, User
from cityos.datahub import access as access_rules
from cityos.datahub import ingest, quality, readers, sample, service, sharing
from cityos.datahub.api import upload_limit_mb
from cityos.datahub.models import Dataset, Load, LoadMode, OnError, SharingRequest
from cityos.datahub.uploads import saved_upload, too_large
from cityos.datahub.views_common import Steward, form_lists, problem_lines, render
from cityos.datahub.vocab import FREQUENCY_LABELS, LICENCES, THEMES
from cityos.db import utcnow
from cityos.deps import ActorDep, SessionDep, SettingsDep
from cityos.errors import CityOSError, Forbidden, InvalidInput, Unprocessable
from cityos.geo import service as geo_service
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)
STEWARD = "datahub/steward.html"
NEW = "datahub/new.html"
INFER_ROWS = 10_000
META_KEYS = (
    "name",
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
STEWARD_NOTICES = frozenset({"decided", "revoked", "deleted"})
# The upload form's reading options ("auto": detected from the file).
ENCODINGS = ("auto", "utf-8", "gbk", "gb18030")
DELIMITERS = ("auto", ",", "tab", ";", "|")
HEADERS = ("auto", "yes", "no")
MAX_SHEET_NAME = 100


# --- the steward's area -----------------------------------------------------------------


def managed_datasets(db: Session, user: User) -> list[Dataset]:
    """Admins manage every dataset; others those of their department."""
    every = service.list_datasets(db)
    if Role.ADMIN in user.roles:
        return every
    return [d for d in every if d.department_id == user.department_id]


def _request_row(db: Session, request: SharingRequest, user: User) -> dict[str, Any]:
    dataset = sharing.dataset_of(db, request)
    schema = service.current_schema(db, dataset=dataset)
    names = schema.names if schema is not None else []
    sensitive = {f.name for f in schema.sensitive_fields} if schema is not None else set()
    offered = list(request.fields) if request.fields else names
    return {
        "request": request,
        "dataset": dataset,
        "state": sharing.request_state(request),
        "offered": offered,
        "sensitive": sensitive,
        "can_decide": access_rules.can_manage(dataset, user),
    }


def steward_context(db: Session, user: User) -> dict[str, Any]:
    now = utcnow()
    rows = []
    for dataset in managed_datasets(db, user):
        state, days = quality.freshness(dataset, now=now)
        rows.append(
            {
                "dataset": dataset,
                "freshness": state,
                "days": days,
                "last_load": service.last_load(db, dataset=dataset),
                "has_schema": dataset.schema_version is not None,
            }
        )
    incoming = [
        _request_row(db, request, user)
        for request in sharing.list_requests(db, user=user, role="incoming")
    ]
    outgoing = [
        _request_row(db, request, user)
        for request in sharing.list_requests(db, user=user, role="outgoing")
    ]
    return {
        "rows": rows,
        "incoming": incoming,
        "pending_count": sum(1 for row in incoming if row["state"] == "pending"),
        "outgoing": outgoing,
        "modes": [mode.value for mode in LoadMode],
        "on_errors": [choice.value for choice in OnError],
        "encodings": ENCODINGS,
        "delimiters": DELIMITERS,
        "headers": HEADERS,
        "today": now.date().isoformat(),
    }


def _refused(page: Page, db: Session, user: User, error: CityOSError, **extra: Any) -> HTMLResponse:
    db.rollback()
    context = {
        **steward_context(db, user),
        "error": error.message,
        "problems": problem_lines(error.details),
        **extra,
    }
    return render(page, STEWARD, context, status_code=error.status_code)


@router.get("/data/steward", response_class=HTMLResponse)
def steward_page(page: PageDep, db: SessionDep, user: Steward) -> HTMLResponse:
    context = steward_context(db, user)
    notice = page.request.query_params.get("notice", "")
    if notice in STEWARD_NOTICES:
        context["notice"] = page.t(f"datahub.notice.{notice}")
    return render(page, STEWARD, context)


def _choice(value: str, enum: type[LoadMode] | type[OnError], key: str) -> Any:
    try:
        return enum(value.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidInput(f"{key}={value!r}: use one of {allowed}.") from None


@dataclass(frozen=True, slots=True)
class ReadingChoices:
    """How the upload form says to read a file; "auto" (or blank) means detect it."""

    encoding: str = "auto"
    delimiter: str = "auto"
    header: str = "auto"
    sheet: str = ""


def _auto(value: str) -> bool:
    return value.strip().lower() in ("", "auto")


def load_options(mode: str, on_error: str, reading: ReadingChoices) -> ingest.LoadOptions:
    """The ingest options of the upload form (an unknown encoding is refused by the reader,
    naming it)."""
    header = reading.header.strip().lower()
    if header not in ("", *HEADERS):
        raise InvalidInput(f"header={reading.header!r}: use one of {', '.join(HEADERS)}.")
    delimiter = reading.delimiter  # not stripped: a tab is a delimiter
    if delimiter.strip().lower() in ("auto", ""):
        delimiter = delimiter if delimiter in ("\t", " ") else ""
    elif delimiter.strip().lower() == "tab":
        delimiter = "\t"
    sheet = reading.sheet.strip()
    if len(sheet) > MAX_SHEET_NAME:
        raise InvalidInput(f"The sheet name is longer than {MAX_SHEET_NAME} characters.")
    return ingest.LoadOptions(
        mode=_choice(mode, LoadMode, "mode"),
        on_error=_choice(on_error, OnError, "on_error"),
        encoding=None if _auto(reading.encoding) else reading.encoding.strip(),
        delimiter=delimiter or None,
        header=None if header in ("", "auto") else header == "yes",
        sheet=sheet or None,
    )


def load_upload(
    db: Session,
    *,
    dataset: Dataset,
    file: FormFile,
    mode: str,
    on_error: str,
    limit_mb: float,
    actor: Actor,
    reading: ReadingChoices = ReadingChoices(),
) -> Load:
    """Store an uploaded file in ``dataset`` through the real ingest path."""
    filename = readers.safe_filename(file.filename or "upload")
    if not file.filename:
        raise InvalidInput("Choose a file to upload (CSV, TSV, XLSX, JSON, GeoJSON, Parquet).")
    if file.size is not None and file.size > limit_mb * 1024 * 1024:
        raise too_large(filename, limit_mb)
    schema = service.current_schema(db, dataset=dataset)
    if schema is None or dataset.schema_version is None:
        raise Unprocessable(
            f"{dataset.name} has no schema yet: give it one first on /data/{dataset.name}/"
            f"manage (or PUT /api/data/{dataset.name}/schema)."
        )
    options = load_options(mode, on_error, reading)
    with saved_upload(
        file.file, name=filename, limit_mb=limit_mb, suffix=Path(filename).suffix
    ) as path:
        return ingest.load_file(
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


@router.post("/data/{name}/loads")
def upload(
    name: str,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: Steward,
    file: Annotated[UploadFile, File()],
    mode: Annotated[str, Form()] = "append",
    on_error: Annotated[str, Form()] = "reject",
    encoding: Annotated[str, Form()] = "auto",
    delimiter: Annotated[str, Form()] = "auto",
    header: Annotated[str, Form()] = "auto",
    sheet: Annotated[str, Form()] = "",
) -> Response:
    """The upload form of a dataset: load the file, then show its validation report."""
    try:
        dataset = service.get_dataset(db, name=name)
        access_rules.require_manage(dataset, user)
        load = load_upload(
            db,
            dataset=dataset,
            file=file,
            mode=mode,
            on_error=on_error,
            limit_mb=upload_limit_mb(settings),
            actor=actor,
            reading=ReadingChoices(
                encoding=encoding, delimiter=delimiter, header=header, sheet=sheet
            ),
        )
    except CityOSError as error:
        typed = {"encoding": encoding, "delimiter": delimiter, "header": header, "sheet": sheet}
        return _refused(page, db, user, error, failed_dataset=name, typed_upload=typed)
    return RedirectResponse(f"/data/{name}/loads/{load.id}?notice=loaded", status_code=303)


def expiry(text: str) -> datetime | None:
    """The end (23:59:59 UTC) of a YYYY-MM-DD day; None when blank."""
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"Expiry {text!r} is not a date: use YYYY-MM-DD, or leave it empty for no end."
        ) from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


@router.post("/data/steward/requests/{request_id}/decision")
async def decide(
    request_id: int,
    request: Request,
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    user: Steward,
) -> Response:
    """Approve (ticked fields, optional expiry) or refuse a sharing request."""
    typed = await form_lists(request)
    decision = (typed.get("decision") or [""])[-1]
    try:
        if decision not in ("approve", "refuse"):
            raise InvalidInput(f"decision={decision!r}: approve or refuse.")
        offered = [v for v in typed.get("offered", []) if v]
        ticked = [v for v in typed.get("fields", []) if v]
        if decision == "approve" and offered and not ticked:
            raise InvalidInput("Tick at least one field to grant, or refuse the request.")
        fields = ticked if ticked and set(ticked) != set(offered) else None
        sharing.decide_request(
            db,
            request_id=request_id,
            approve=decision == "approve",
            user=user,
            fields=fields,
            expires_at=expiry((typed.get("expires") or [""])[-1])
            if decision == "approve"
            else None,
            note=(typed.get("note") or [""])[-1],
            actor=actor,
        )
    except CityOSError as error:
        return _refused(page, db, user, error)
    return RedirectResponse("/data/steward?notice=decided#incoming", status_code=303)


@router.post("/data/steward/requests/{request_id}/revoke")
async def revoke(
    request_id: int,
    request: Request,
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    user: Steward,
) -> Response:
    typed = await form_lists(request)
    try:
        sharing.revoke_grant(
            db,
            request_id=request_id,
            user=user,
            note=(typed.get("note") or [""])[-1],
            actor=actor,
        )
    except CityOSError as error:
        return _refused(page, db, user, error)
    return RedirectResponse("/data/steward?notice=revoked#incoming", status_code=303)


# --- a new dataset ----------------------------------------------------------------------


def new_context(db: Session, user: User, typed: dict[str, Any] | None = None) -> dict[str, Any]:
    is_admin = Role.ADMIN in user.roles
    departments = auth_service.list_departments(db) if is_admin else []
    values: dict[str, Any] = {
        "licence": "CC-BY-4.0",
        "frequency": "irregular",
        "access": "open",
        "themes": [],
        "department": user.department.code if user.department is not None else "",
        "schema": "",
    }
    values.update(typed or {})
    return {
        "typed": values,
        "themes": THEMES,
        "licences": LICENCES,
        "frequencies": [f.value for f in FREQUENCY_LABELS],
        "accesses": ["open", "shared", "restricted"],
        "departments": departments,
        "is_admin": is_admin,
    }


def typed_metadata(fields: dict[str, list[str]]) -> dict[str, Any]:
    typed: dict[str, Any] = {key: (fields.get(key) or [""])[-1].strip() for key in META_KEYS}
    typed["themes"] = [v for v in fields.get("themes", []) if v]
    typed["department"] = (fields.get("department") or [""])[-1].strip()
    typed["schema"] = (fields.get("schema") or [""])[-1]
    return typed


def parse_schema_text(text: str) -> dict[str, Any]:
    if not text.strip():
        raise InvalidInput(
            "The schema is empty: upload a sample file and press 'Suggest a schema', "
            "or paste a Table Schema (JSON)."
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"The schema is not valid JSON: line {error.lineno}, column {error.colno}: {error.msg}."
        ) from None
    if not isinstance(value, dict) or not isinstance(value.get("fields"), list):
        raise InvalidInput('The schema must be a JSON object with a "fields" list.')
    return value


def schema_rows(descriptor: dict[str, Any]) -> list[dict[str, Any]]:
    """The suggested schema as a readable table."""
    rows = []
    for raw in descriptor.get("fields") or []:
        if isinstance(raw, dict):
            rows.append(
                {
                    "name": raw.get("name", ""),
                    "type": raw.get("type", "string"),
                    "element": raw.get("element") or "",
                    "constraints": json.dumps(
                        raw.get("constraints") or {}, ensure_ascii=False, sort_keys=True
                    ),
                    "sensitive": bool(raw.get("sensitive")),
                }
            )
    return rows


def _department_for(user: User, typed: dict[str, Any]) -> str:
    if Role.ADMIN in user.roles and typed.get("department"):
        return str(typed["department"])
    if user.department is None:
        raise Forbidden(
            "Your account has no department, and datasets are published by departments: "
            "ask an admin to set yours."
        )
    return user.department.code


def _infer(db: Session, file: FormFile, limit_mb: float) -> dict[str, Any]:
    if not file.filename:
        raise InvalidInput("Choose a sample file (CSV, TSV, XLSX, JSON, GeoJSON, Parquet).")
    filename = readers.safe_filename(file.filename)
    with saved_upload(
        file.file, name=filename, limit_mb=limit_mb, suffix=Path(filename).suffix
    ) as path:
        return sample.infer_file(db, path=path, filename=filename, rows=INFER_ROWS)


@router.get("/data/new", response_class=HTMLResponse)
def new_page(page: PageDep, db: SessionDep, user: Steward) -> HTMLResponse:
    return render(page, NEW, new_context(db, user))


@router.post("/data/new")
async def new_dataset(
    request: Request,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: Steward,
) -> Response:
    """``action=infer``: suggest a schema from the sample file; ``action=create``: create the
    dataset with the (edited) schema, and load the file when one is attached."""
    form = await request.form()
    try:
        fields = await form_lists(request)
        value = form.get("file")
        file = value if isinstance(value, FormFile) and value.filename else None
        return await run_in_threadpool(
            partial(
                create_from_form,
                page,
                db,
                user=user,
                actor=actor,
                fields=fields,
                file=file,
                limit_mb=upload_limit_mb(settings),
            )
        )
    finally:
        await form.close()


def create_from_form(
    page: Page,
    db: Session,
    *,
    user: User,
    actor: Actor,
    fields: dict[str, list[str]],
    file: FormFile | None,
    limit_mb: float,
) -> Response:
    typed = typed_metadata(fields)
    action = (fields.get("action") or ["infer"])[-1]
    extra: dict[str, Any] = {}
    try:
        if action == "infer":
            if file is None:
                raise InvalidInput("Choose a sample file to suggest a schema from.")
            inferred = _infer(db, file, limit_mb)
            typed["schema"] = json.dumps(inferred["descriptor"], ensure_ascii=False, indent=2)
            context = {
                **new_context(db, user, typed),
                "inferred": inferred,
                "schema_rows": schema_rows(inferred["descriptor"]),
            }
            return render(page, NEW, context)
        descriptor = parse_schema_text(typed["schema"])
        extra["schema_rows"] = schema_rows(descriptor)
        data = {key: typed[key] for key in META_KEYS if typed[key] != ""}
        data.update(title_zh=typed["title_zh"], title_en=typed["title_en"])
        data["themes"] = typed["themes"]
        data["schema"] = descriptor
        dataset = service.create_dataset(
            db, data=data, department_code=_department_for(user, typed), actor=actor
        )
        if file is not None:
            load = load_upload(
                db,
                dataset=dataset,
                file=file,
                mode="append",
                on_error="reject",
                limit_mb=limit_mb,
                actor=actor,
            )
            return RedirectResponse(
                f"/data/{dataset.name}/loads/{load.id}?notice=loaded", status_code=303
            )
    except CityOSError as error:
        db.rollback()
        context = {
            **new_context(db, user, typed),
            "error": error.message,
            "problems": problem_lines(error.details),
            **extra,
        }
        return render(page, NEW, context, status_code=error.status_code)
    return RedirectResponse(f"/data/{dataset.name}?notice=created", status_code=303)
