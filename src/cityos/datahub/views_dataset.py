"""The dataset page (/data/{name}), its "Request access" form, and a load's validation
report (/data/{name}/loads/{id}).

The dataset page shows what the viewer may see: metadata to everyone who may list the
dataset (anonymous visitors: open datasets only), the preview, map, chart and downloads to
readers, and a request form instead to signed-in users of other departments without a
grant. The preview, map and chart are drawn by ``/static/datahub/dataset.js`` from the
rows API; their settings come in a JSON block (no inline script: the CSP forbids it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from cityos.auth.models import User
from cityos.datahub import access as access_rules
from cityos.datahub import api_schemas, filters, quality, service, sharing
from cityos.datahub import elements as elements_module
from cityos.datahub.models import Access, DataElement, Dataset, ResourceKind
from cityos.datahub.tableschema import Field, FieldType, TableSchema
from cityos.datahub.views_common import (
    description_in,
    form_lists,
    pick,
    problem_lines,
    render,
    title_in,
)
from cityos.datahub.views_words import constraint_words, report_lines, type_word
from cityos.db import utcnow
from cityos.deps import ActorDep, CurrentUser, SessionDep
from cityos.errors import CityOSError
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)
LOADS_SHOWN = 20
NUMERIC = frozenset({FieldType.INTEGER, FieldType.NUMBER, FieldType.YEAR})
NOTICES = frozenset({"requested", "loaded", "created"})
# The preview's filter operators by kind of field (what reads well; the query API may allow
# more, see filters.ops_for): ordered values compare, texts match, booleans are equal or not.
ORDERED = frozenset(
    {
        FieldType.INTEGER,
        FieldType.NUMBER,
        FieldType.YEAR,
        FieldType.DATE,
        FieldType.DATETIME,
        FieldType.TIME,
        FieldType.YEARMONTH,
    }
)
ORDERED_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "isnull")
TEXT_OPS = ("eq", "ne", "contains", "in", "isnull")
BOOLEAN_OPS = ("eq", "ne", "isnull")


def filter_ops(data_field: Field) -> list[str]:
    """The operators the preview offers for a field: those the query API takes for its type,
    narrowed to the ones that make sense (a geopoint: only "is empty")."""
    allowed = filters.ops_for(data_field)
    if data_field.type in ORDERED:
        wanted: tuple[str, ...] = ORDERED_OPS
    elif data_field.type is FieldType.BOOLEAN:
        wanted = BOOLEAN_OPS
    elif data_field.type in filters.TEXT_TYPES:
        wanted = TEXT_OPS
    else:
        wanted = allowed
    return [op for op in wanted if op in allowed]


def dictionary(
    page: Page,
    schema: TableSchema | None,
    elements: dict[str, DataElement],
    reader: access_rules.ReadAccess,
) -> list[dict[str, Any]]:
    """The data dictionary: one row per field, with its data element and what this viewer
    gets of it (``shown``, ``masked`` or ``hidden``)."""
    rows = []
    for data_field in schema.fields if schema is not None else ():
        element = elements.get(data_field.element or "")
        if data_field.name in reader.masked:
            state = "masked"
        elif reader.allowed and data_field.name not in reader.hidden:
            state = "shown"
        else:
            state = "hidden"
        rows.append(
            {
                "name": data_field.name,
                "title": data_field.title,
                "description": data_field.description,
                "type": str(data_field.type),
                "type_word": type_word(page.t, str(data_field.type)),
                "constraints": constraint_words(page.t, data_field, schema),
                "element": element,
                "element_code": data_field.element,
                "element_name": pick(page.language, element.name_zh, element.name_en)
                if element
                else "",
                "element_definition": pick(
                    page.language, element.definition_zh, element.definition_en
                )
                if element
                else "",
                "sensitive": data_field.sensitive,
                # the field's own sensitivity (fixed with its schema version), not the
                # element's current one
                "sensitivity": "sensitive"
                if data_field.sensitive
                else (element.sensitivity if element else "public"),
                "state": state,
            }
        )
    return rows


def script_data(
    page: Page, dataset: Dataset, schema: TableSchema | None, reader: access_rules.ReadAccess
) -> dict[str, Any]:
    """What dataset.js needs: the fields this viewer gets (with the filter operators and
    whether they sort; masked fields do neither: the API refuses that), the geopoint, the
    operators' labels."""
    fields = []
    for data_field in schema.fields if schema is not None else ():
        if not reader.shows(data_field.name):
            continue
        masked = data_field.name in reader.masked
        fields.append(
            {
                "name": data_field.name,
                "label": data_field.title or data_field.name,
                "type": str(data_field.type),
                "numeric": data_field.type in NUMERIC and not masked,
                "masked": masked,
                "ops": [] if masked else filter_ops(data_field),
                "sortable": not masked and data_field.type is not FieldType.GEOPOINT,
            }
        )
    geo = next(
        (f["name"] for f in fields if f["type"] == FieldType.GEOPOINT.value and not f["masked"]),
        None,
    )
    return {
        "name": dataset.name,
        "lang": page.language,
        "fields": fields,
        "geo": geo,
        "op_labels": {op: page.t(f"datahub.op.{op}") for op in filters.OPS},
    }


def snippets(base_url: str, dataset: Dataset, resource_id: str) -> dict[str, str]:
    root = base_url.rstrip("/")
    rows = f"{root}/api/data/{dataset.name}/rows"
    return {
        "curl": (
            f"curl '{rows}?limit=10'\n"
            f"curl -o {dataset.name}.csv '{root}/api/data/{dataset.name}/download.csv'"
        ),
        "python": (
            "import requests\n\n"
            f'root = "{root}"\n'
            f'page = requests.get(root + "/api/data/{dataset.name}/rows", '
            'params={"limit": 100}).json()\n'
            "while True:\n"
            '    for row in page["rows"]:\n'
            "        print(row)\n"
            '    if not page["next"]:  # the path of the next page, or null on the last\n'
            "        break\n"
            '    page = requests.get(root + page["next"]).json()'
        ),
        "ckan": (
            "import ckanapi\n\n"
            f'city = ckanapi.RemoteCKAN("{root}")\n'
            f'package = city.action.package_show(id="{dataset.name}")\n'
            f'result = city.action.datastore_search(resource_id="{resource_id}", limit=100)\n'
            'print(result["total"], result["records"][:3])'
        ),
    }


def dataset_context(db: Session, page: Page, name: str) -> dict[str, Any]:
    dataset = service.get_dataset(db, name=name)
    user = page.user
    access_rules.require_metadata(dataset, user)
    schema = service.current_schema(db, dataset=dataset)
    reader = access_rules.read_access(db, dataset=dataset, schema=schema, user=user)
    elements = elements_module.elements_by_code(db)
    table = service.table_resource(db, dataset=dataset)
    files = [r for r in service.resources(db, dataset=dataset) if r.kind == ResourceKind.FILE.value]
    mine = (
        sharing.list_requests(db, user=user, role="outgoing", dataset=dataset)
        if user is not None and user.department_id is not None and not reader.is_owner
        else []
    )
    pending = [r for r in mine if r.status == "pending"]
    may_ask = (
        user is not None
        and user.department_id is not None
        and not reader.is_owner
        and not pending
        and (not reader.allowed or bool(reader.hidden or reader.masked))
    )
    askable = [
        f.name
        for f in (schema.fields if schema is not None else ())
        if not reader.allowed or f.name in reader.hidden or f.name in reader.masked
    ]
    formats = service.table_formats(schema) if reader.allowed else []
    return {
        "dataset": dataset,
        "title": title_in(dataset, page.language),
        "description": description_in(dataset, page.language),
        "summary": api_schemas.dataset_summary(dataset, schema),
        "schema": schema,
        "reader": reader,
        "can_manage": access_rules.can_manage(dataset, user),
        "quality": quality.dataset_quality(
            db, dataset=dataset, now=utcnow(), schema=schema, access=reader
        ),
        "dictionary": dictionary(page, schema, elements, reader),
        "primary_key": list(schema.primary_key) if schema is not None else [],
        "loads": service.list_loads(db, dataset=dataset, limit=LOADS_SHOWN),
        "versions": service.schema_versions(db, dataset=dataset),
        "files": files,
        "formats": formats,
        "table_id": table.uuid,
        "snippets": snippets(page.request.app.state.settings.base_url, dataset, table.uuid),
        "script": script_data(page, dataset, schema, reader),
        "my_requests": mine,
        "pending": pending[0] if pending else None,
        "may_ask": may_ask,
        "askable": askable,
        "restricted": dataset.access == Access.RESTRICTED.value,
        "has_rows": reader.allowed and schema is not None and dataset.row_count > 0,
    }


@router.get("/data/{name}", response_class=HTMLResponse)
def dataset_page(name: str, page: PageDep, db: SessionDep) -> HTMLResponse:
    context = dataset_context(db, page, name)
    notice = page.request.query_params.get("notice", "")
    if notice in NOTICES:
        context["notice"] = page.t(f"datahub.notice.{notice}")
    return render(page, "datahub/dataset.html", context)


@router.post("/data/{name}/requests")
async def ask_for_access(
    name: str,
    request: Request,
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    user: CurrentUser,
) -> Response:
    """The "Request access" form: a sharing request for the user's department."""
    typed = await form_lists(request)
    purpose = (typed.get("purpose") or [""])[-1]
    chosen = [value for value in typed.get("fields", []) if value.strip()]
    try:
        dataset = service.get_dataset(db, name=name)
        sharing.request_access(
            db,
            dataset=dataset,
            user=user,
            purpose=purpose,
            fields=chosen or None,
            actor=actor,
        )
    except CityOSError as error:
        db.rollback()
        context = {
            **dataset_context(db, page, name),
            "error": error.message,
            "problems": problem_lines(error.details),
            "typed_purpose": purpose,
            "typed_fields": chosen,
        }
        return render(page, "datahub/dataset.html", context, status_code=error.status_code)
    return RedirectResponse(f"/data/{name}?notice=requested#access", status_code=303)


def report_context(db: Session, page: Page, user: User, name: str, load_id: int) -> dict[str, Any]:
    dataset = service.get_dataset(db, name=name)
    access_rules.require_manage(dataset, user)
    load = service.get_load(db, dataset=dataset, load_id=load_id)
    try:
        schema: TableSchema | None = service.schema_at(
            db, dataset=dataset, version=load.schema_version
        )
    except CityOSError:
        schema = None
    report = load.report or {}
    return {
        "dataset": dataset,
        "title": title_in(dataset, page.language),
        "load": load,
        "report": report,
        "lines": report_lines(
            page.t,
            report,
            schema=schema,
            elements=elements_module.elements_by_code(db),
            lang=page.language,
        ),
    }


@router.get("/data/{name}/loads/{load_id}", response_class=HTMLResponse)
def report_page(
    name: str, load_id: int, page: PageDep, db: SessionDep, user: CurrentUser
) -> HTMLResponse:
    """A load's validation report, for the dataset's stewards."""
    context = report_context(db, page, user, name, load_id)
    if page.request.query_params.get("notice") == "loaded":
        context["notice"] = page.t("datahub.notice.loaded")
    return render(page, "datahub/report.html", context)
