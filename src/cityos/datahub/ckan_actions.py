"""The CKAN read actions over the data hub: what ``/api/3/action/{name}`` answers.

Each action takes a :class:`Call` (the database session, the caller, the site's address)
and the request's parameters, and returns CKAN's ``result``. Problems are raised as
:mod:`cityos.errors` classes (or :class:`ckan.CkanValidationError`);
:mod:`cityos.datahub.ckan_api` turns them into CKAN's error envelope.

Visibility follows the rest of the data hub: anonymous callers see open datasets only,
signed-in callers every catalogue entry — but, as in CKAN, ``package_list`` and
``package_search`` list datasets that are not open only with ``include_private=true``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.datahub import ckan, physical, service, vocab
from cityos.datahub.access import require_metadata, require_read
from cityos.datahub.ckan_params import (
    DATASTORE_LIMIT_MAX,
    FACET_FIELDS,
    ROWS_MAX,
    Resolver,
    Search,
    as_bool,
    as_int,
    as_names,
    as_text,
    invalid,
    parse_datastore,
    parse_search,
)
from cityos.datahub.models import Access, Dataset, Resource, ResourceKind
from cityos.datahub.search import facet_values
from cityos.errors import NotFound

T = TypeVar("T")
EVERYTHING = 1_000_000  # "no limit" for the data hub's search
OPEN = Access.OPEN.value


@dataclass(frozen=True, slots=True)
class Call:
    db_session: Session
    user: User | None
    base_url: str


Action = Callable[[Call, Mapping[str, Any]], Any]


# --- helpers -----------------------------------------------------------------------------


def _resolver(call: Call) -> Resolver:
    return Resolver(d.code for d in auth_service.list_departments(call.db_session))


def _packages(call: Call, datasets: Sequence[Dataset]) -> list[dict[str, Any]]:
    resources = service.resources_of(call.db_session, datasets)
    return [ckan.package_dict(call.base_url, d, resources[d.id]) for d in datasets]


def _find_dataset(call: Call, ident: str | None, *, parameter: str = "id") -> Dataset:
    if not ident:
        raise invalid(parameter, "Missing value: give a dataset's name or id")
    dataset = service.find_dataset(call.db_session, name=ident)
    if dataset is None and ident.isdigit():
        dataset = call.db_session.get(Dataset, int(ident))
    if dataset is None:
        raise NotFound(f"there is no dataset {ident!r} (package_list lists them)")
    require_metadata(dataset, call.user)
    return dataset


def _counts(call: Call, facet: str) -> dict[str, int]:
    """How many datasets the caller can see per department or theme."""
    result = service.search(call.db_session, user=call.user, limit=0)
    return {value.value: value.count for value in result.facets.get(facet, [])}


def _page(params: Mapping[str, Any], items: list[Any]) -> list[Any]:
    offset = as_int(params, "offset", default=0, maximum=None)
    limit = as_int(params, "limit", default=EVERYTHING, maximum=None)
    return items[offset : offset + limit]


# --- site --------------------------------------------------------------------------------


def site_read(_call: Call, _params: Mapping[str, Any]) -> bool:
    return True


def status_show(call: Call, _params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "site_title": "CityOS data hub",
        "site_description": "Open data of the city's departments",
        "site_url": call.base_url,
        "ckan_version": ckan.CKAN_VERSION,
        "error_emails_to": None,
        "locale_default": "zh_Hans_CN",
        "extensions": ["datastore", "dcat"],
    }


def help_show(_call: Call, params: Mapping[str, Any]) -> str:
    name = as_text(params, "name")
    if not name or name not in ACTIONS:
        raise NotFound(f"no action {name!r}; actions are {', '.join(sorted(ACTIONS))}")
    return HELP[name]


# --- packages ----------------------------------------------------------------------------


def package_list(call: Call, params: Mapping[str, Any]) -> list[str]:
    private = as_bool(params, "include_private", default=False)
    result = service.search(call.db_session, user=call.user, sort="name", limit=EVERYTHING)
    names = [d.name for d in result.datasets if private or d.access == OPEN]
    return _page(params, names)


def package_show(call: Call, params: Mapping[str, Any]) -> dict[str, Any]:
    dataset = _find_dataset(call, as_text(params, "id") or as_text(params, "name"))
    return _packages(call, [dataset])[0]


def package_search(call: Call, params: Mapping[str, Any]) -> dict[str, Any]:
    search = parse_search(params, resolve=_resolver(call))
    filters = dict(search.filters)  # tags are the hub's keyword filter (every one, any case)
    private = as_bool(params, "include_private", default=False)
    if not private:  # CKAN lists private datasets on request only
        filters["access"] = [a for a in filters.get("access", [OPEN]) if a == OPEN]
    datasets: list[Dataset] = []
    total = 0
    search_facets: dict[str, Any] = {}
    if not search.nothing and filters.get("access") != []:
        counting = bool(search.facet_fields)
        result = service.search(
            call.db_session,
            user=call.user,
            q=search.q,
            filters=filters,
            sort=search.sort,
            offset=0 if counting else search.offset,
            limit=EVERYTHING if counting else search.limit,
        )
        datasets, total = result.datasets, result.total
        if counting:  # CKAN counts facets over every match (after fq), then pages
            search_facets = _search_facets(call, search, result)
            datasets = datasets[search.offset : search.offset + search.limit]
    for ckan_field in search.facet_fields:
        search_facets.setdefault(ckan_field, {"title": ckan_field, "items": []})
    return {
        "count": total,
        "sort": search.sort_text,
        "results": _packages(call, datasets),
        "facets": {
            name: {item["name"]: item["count"] for item in value["items"]}
            for name, value in search_facets.items()
        },
        "search_facets": search_facets,
    }


def _search_facets(
    call: Call, search: Search, result: service.SearchResult
) -> dict[str, dict[str, Any]]:
    """CKAN's ``search_facets``: the asked fields counted over every matching dataset.

    (The hub's own facets count each facet without its own filter, as the portal shows
    them; CKAN's count what the filter query leaves.)
    """
    labels = {
        (name, v.value): v.label_en or v.value
        for name, values in result.facets.items()
        for v in values
    }
    files = service.resources_of(call.db_session, result.datasets)
    counts: dict[str, Counter[str]] = {
        FACET_FIELDS[name]: Counter() for name in search.facet_fields
    }
    for dataset in result.datasets:
        attached = {
            r.format for r in files[dataset.id] if r.kind == ResourceKind.FILE.value and r.format
        }
        values = facet_values(dataset, result.schemas.get(dataset.id), attached)
        for facet, counter in counts.items():
            counter.update(values[facet])
    out: dict[str, dict[str, Any]] = {}
    for ckan_field in search.facet_fields:
        facet = FACET_FIELDS[ckan_field]
        items = ckan.facet_items(
            (_ckan_name(ckan_field, value), labels.get((facet, value), value), count)
            for value, count in counts[facet].items()
        )
        items = ckan.limit_facets(items, limit=search.facet_limit, mincount=search.facet_mincount)
        out[ckan_field] = {"title": ckan_field, "items": items}
    return out


def _ckan_name(ckan_field: str, value: str) -> str:
    return value.lower() if ckan_field in {"organization", "groups"} else value


# --- organizations and groups ------------------------------------------------------------


def organization_list(call: Call, params: Mapping[str, Any]) -> list[Any]:
    wanted = as_names(params, "organizations")
    resolver = _resolver(call)
    departments = [
        d
        for d in auth_service.list_departments(call.db_session)
        if wanted is None or d.code in {resolver.department(name) for name in wanted}
    ]
    counts = _counts(call, "department")
    departments = _sorted_groups(
        params, departments, key=lambda d: d.code.lower(), count=lambda d: counts.get(d.code, 0)
    )
    departments = _page(params, departments)
    if not as_bool(params, "all_fields", default=False):
        return [d.code.lower() for d in departments]
    return [ckan.organization_dict(d, package_count=counts.get(d.code, 0)) for d in departments]


def organization_show(call: Call, params: Mapping[str, Any]) -> dict[str, Any]:
    ident = as_text(params, "id")
    if not ident:
        raise invalid("id", "Missing value: give an organization's name (organization_list)")
    code = _resolver(call).department(ident)
    if code is None:
        raise NotFound(f"there is no organization {ident!r} (organization_list lists them)")
    department = auth_service.get_department(call.db_session, code=code)
    result = service.search(
        call.db_session,
        user=call.user,
        filters={"department": [code]},
        sort="name",
        limit=ROWS_MAX,
    )
    out = ckan.organization_dict(department, package_count=result.total)
    if as_bool(params, "include_datasets", default=False):
        out["packages"] = _packages(call, result.datasets)
    return out


def group_list(call: Call, params: Mapping[str, Any]) -> list[Any]:
    wanted = as_names(params, "groups")
    resolver = _resolver(call)
    codes = [
        code
        for code in vocab.THEMES
        if wanted is None or code in {resolver.theme(name) for name in wanted}
    ]
    counts = _counts(call, "theme")
    codes = _sorted_groups(params, codes, key=str.lower, count=lambda c: counts.get(c, 0))
    codes = _page(params, codes)
    if not as_bool(params, "all_fields", default=False):
        return [code.lower() for code in codes]
    return [ckan.group_dict(code, package_count=counts.get(code, 0)) for code in codes]


def group_show(call: Call, params: Mapping[str, Any]) -> dict[str, Any]:
    ident = as_text(params, "id")
    if not ident:
        raise invalid("id", "Missing value: give a group's name (group_list)")
    code = _resolver(call).theme(ident)
    if code is None:
        raise NotFound(f"there is no group {ident!r} (group_list lists them)")
    result = service.search(
        call.db_session,
        user=call.user,
        filters={"theme": [code]},
        sort="name",
        limit=ROWS_MAX,
    )
    out = ckan.group_dict(code, package_count=result.total)
    if as_bool(params, "include_datasets", default=False):
        out["packages"] = _packages(call, result.datasets)
    return out


def _sorted_groups(
    params: Mapping[str, Any],
    items: list[T],
    *,
    key: Callable[[T], str],
    count: Callable[[T], int],
) -> list[T]:
    text = " ".join((as_text(params, "sort") or "name asc").lower().split())
    if text in {"name", "name asc", "title asc", "title"}:
        return sorted(items, key=key)
    if text == "name desc":
        return sorted(items, key=key, reverse=True)
    if text in {"package_count", "package_count desc"}:
        return sorted(items, key=lambda item: (-count(item), key(item)))
    if text == "package_count asc":
        return sorted(items, key=lambda item: (count(item), key(item)))
    raise invalid("sort", "sort by 'name asc', 'name desc' or 'package_count desc'")


# --- resources and the datastore ---------------------------------------------------------


def _resource(call: Call, ident: str | None, *, parameter: str) -> tuple[Resource, Dataset]:
    if not ident:
        raise invalid(parameter, "Missing value: give a resource id (see package_show)")
    resource = service.get_resource(call.db_session, uuid=ident)
    dataset = service.get_dataset_by_id(call.db_session, dataset_id=resource.dataset_id)
    require_metadata(dataset, call.user)
    return resource, dataset


def resource_show(call: Call, params: Mapping[str, Any]) -> dict[str, Any]:
    resource, dataset = _resource(call, as_text(params, "id"), parameter="id")
    resources = service.resources(call.db_session, dataset=dataset)
    position = next((i for i, r in enumerate(resources) if r.id == resource.id), 0)
    return ckan.resource_dict(call.base_url, dataset, resource, position)


def datastore_search(call: Call, params: Mapping[str, Any]) -> dict[str, Any]:
    from cityos.datahub import query

    resource_id = as_text(params, "resource_id") or as_text(params, "id")
    resource, dataset = _resource(call, resource_id, parameter="resource_id")
    if resource.kind != ResourceKind.TABLE.value:
        raise NotFound(
            f"the resource {resource.uuid!r} is an attached file, not a table: download it "
            f"from {ckan.file_download_url(call.base_url, dataset, resource)}"
        )
    schema = service.current_schema(call.db_session, dataset=dataset)
    if schema is None or dataset.schema_version is None:
        raise NotFound(f"{dataset.name} has no schema yet, so no rows")
    request = parse_datastore(params)
    access = require_read(
        call.db_session, dataset=dataset, schema=schema, user=call.user, fields=request.fields
    )
    row_query = query.parse_row_query(schema, request.row_params, max_limit=DATASTORE_LIMIT_MAX)
    page = query.fetch_rows(
        call.db_session,
        dataset=dataset,
        schema=schema,
        version=dataset.schema_version,
        query=row_query,
        access=access,
    )
    # _id: the row's stored id (`_row`). RowPage does not carry it yet, so the same
    # statement (same conditions, order, offset and limit) is asked for the ids alone.
    table = query.table_of(dataset, schema, dataset.schema_version)
    ids = call.db_session.scalars(
        query.statement_for(table, schema, row_query, access, [physical.ROW], limit=row_query.limit)
    ).all()
    service.record_usage(call.db_session, dataset=dataset, api_calls=1)
    base = {"resource_id": resource.uuid, **request.link_params}
    start = f"/api/3/action/datastore_search?{urlencode(base)}"
    after = {**base, "offset": request.offset + request.limit}
    records = [{"_id": int(row_id), **row} for row_id, row in zip(ids, page.rows, strict=False)]
    out: dict[str, Any] = {
        "resource_id": resource.uuid,
        "fields": [{"id": "_id", "type": "int"}]
        + [
            {"id": name, "type": ckan.DATASTORE_TYPES.get(schema.field(name).type, "text")}
            for name in page.fields
        ],
        "records": records,
        "records_format": "objects",
        "limit": request.limit,
        "offset": request.offset,
        "include_total": request.include_total,
        "_links": {
            "start": start,
            "next": f"/api/3/action/datastore_search?{urlencode(after)}",
        },
    }
    if request.include_total:
        out["total"] = page.total
        out["total_was_estimated"] = False
    for key in ("q", "filters", "sort"):
        if key in params:
            out[key] = params[key]
    return out


# --- the table of actions ----------------------------------------------------------------

ACTIONS: dict[str, Action] = {
    "site_read": site_read,
    "status_show": status_show,
    "help_show": help_show,
    "package_list": package_list,
    "package_show": package_show,
    "package_search": package_search,
    "organization_list": organization_list,
    "organization_show": organization_show,
    "group_list": group_list,
    "group_show": group_show,
    "resource_show": resource_show,
    "datastore_search": datastore_search,
}

HELP: dict[str, str] = {
    "site_read": "Return True: the site may be read.",
    "status_show": "Return the site's title, address, CKAN version and extensions.",
    "help_show": "Return the help text of an action (name).",
    "package_list": "Return the names of the datasets (limit, offset, include_private).",
    "package_show": "Return one dataset (id: its name or id).",
    "package_search": (
        "Search datasets: q, fq (tags, groups, organization, res_format, license_id, "
        "access_level, frequency), sort, rows (≤ 1000), start, facet.field (the same "
        "fields, counted over the matches), facet.limit, facet.mincount, include_private."
    ),
    "organization_list": "Return the departments (all_fields, sort, limit, offset).",
    "organization_show": "Return one department (id; include_datasets).",
    "group_list": "Return the themes (all_fields, sort, limit, offset).",
    "group_show": "Return one theme (id; include_datasets).",
    "resource_show": "Return one resource (id).",
    "datastore_search": (
        "Search a table's rows: resource_id, filters, q, fields, sort ('_id asc' is the "
        "stored order), limit (≤ 1000), offset, include_total. _id is the row's stored id."
    ),
}
