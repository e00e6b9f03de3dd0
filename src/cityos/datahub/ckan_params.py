"""The parameters of CKAN's read actions in the data hub's terms: ``package_search``'s
``q``, ``fq``, ``sort``, ``rows``, ``start`` and ``facet.field``, ``datastore_search``'s
``filters``, ``q``, ``fields``, ``sort``, ``limit`` and ``offset`` — and CKAN's
``Validation Error`` for every problem with them.

``fq`` is read as CKAN clients write it (a Solr filter query, of which the data hub serves
the common part): ``field:value``, ``field:"quoted value"`` and ``field:(a OR "b c")``
terms, optionally prefixed with ``+``, joined by spaces or ``AND``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cityos.datahub import vocab
from cityos.datahub.models import Access, Frequency
from cityos.errors import CityOSError

ROWS_DEFAULT = 10
ROWS_MAX = 1000
FACET_LIMIT_DEFAULT = 50
DATASTORE_LIMIT_DEFAULT = 100
DATASTORE_LIMIT_MAX = 1000

# CKAN search field → the data hub's search filter (and facet) name
FQ_FIELDS: dict[str, str] = {
    "tags": "keyword",
    "groups": "theme",
    "organization": "department",
    "res_format": "format",
    "license_id": "licence",
    "access_level": "access",
    "frequency": "frequency",
}
# Facets the data hub counts: every FQ field (tags are counted lower-cased)
FACET_FIELDS: dict[str, str] = dict(FQ_FIELDS)
# Terms CKAN clients add to queries; these values mean "everything the hub serves".
NEUTRAL_TERMS: dict[str, frozenset[str]] = {
    "dataset_type": frozenset({"dataset"}),
    "type": frozenset({"dataset"}),
    "state": frozenset({"active"}),
}
# CKAN sort (normalised) → the data hub's search sort
SORTS: dict[str, str] = {
    "score desc, metadata_modified desc": "relevance",
    "score desc": "relevance",
    "metadata_modified desc": "updated",
    "metadata_created desc": "created",
    "title_string asc": "title",
    "name asc": "name",
}


# --- errors ------------------------------------------------------------------------------


class CkanValidationError(CityOSError):
    """A CKAN ``Validation Error``: ``problems`` maps a parameter to what is wrong with it."""

    status_code = 409
    code = "validation_error"

    def __init__(self, problems: Mapping[str, Sequence[str]]) -> None:
        messages = [f"{key}: {text}" for key, texts in problems.items() for text in texts]
        super().__init__("; ".join(messages), details={k: list(v) for k, v in problems.items()})
        self.problems = {key: list(texts) for key, texts in problems.items()}


def invalid(parameter: str, message: str) -> CkanValidationError:
    return CkanValidationError({parameter: [message]})


# --- parameters --------------------------------------------------------------------------


def as_text(params: Mapping[str, Any], name: str) -> str | None:
    """A string parameter; empty means absent. Lists (repeated query keys) are refused."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if not isinstance(value, str):
        raise invalid(name, "must be a single text value")
    return value.strip() or None


def as_int(
    params: Mapping[str, Any], name: str, *, default: int, minimum: int = 0, maximum: int | None
) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(name, f"must be a whole number, not {value!r}") from None
    if number < minimum:
        raise invalid(name, f"must be {minimum} or more")
    if maximum is not None and number > maximum:
        raise invalid(name, f"must be {maximum} or less (got {number}); page with 'start'")
    return number


def as_bool(params: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise invalid(name, f"must be true or false, not {value!r}")


def as_json(params: Mapping[str, Any], name: str) -> Any:
    """A parameter that is JSON in a query string and already decoded in a JSON body."""
    value = params.get(name)
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise invalid(name, f"is not valid JSON ({error.msg} at character {error.pos})") from None


def as_names(params: Mapping[str, Any], name: str) -> list[str] | None:
    """A list of names: a JSON list, a list in a JSON body, or a comma-separated string."""
    value = params.get(name)
    if isinstance(value, str) and value.strip().startswith("["):
        value = as_json(params, name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise invalid(name, "must be a list of names (JSON list or comma-separated)")


@dataclass(frozen=True, slots=True)
class Search:
    """A ``package_search`` call in the data hub's terms."""

    q: str | None
    filters: dict[str, list[str]]
    sort: str  # the data hub's sort
    sort_text: str  # CKAN's, as asked
    offset: int
    limit: int
    facet_fields: list[str] = field(default_factory=list)
    facet_limit: int = FACET_LIMIT_DEFAULT
    facet_mincount: int = 1
    nothing: bool = False  # a term asks for something the hub never serves


def parse_search(params: Mapping[str, Any], *, resolve: Resolver) -> Search:
    """Read ``package_search``'s parameters; every problem is a Validation Error."""
    q = as_text(params, "q")
    if q in {"*:*", "*"}:
        q = None
    filters: dict[str, list[str]] = {}
    nothing = False
    fq_texts = [as_text(params, "fq")]
    if params.get("fq_list") is not None:
        fq_texts += as_names(params, "fq_list") or []
    for text in fq_texts:
        if text:
            terms = parse_fq(text, resolve=resolve)
            nothing = nothing or terms.nothing
            for key, values in terms.filters.items():
                known = filters.setdefault(key, [])
                known.extend(value for value in values if value not in known)
    facets = as_json(params, "facet.field")
    if facets is None:
        facets = []
    if not isinstance(facets, list) or not all(isinstance(f, str) for f in facets):
        raise invalid("facet.field", 'must be a JSON list of field names, e.g. ["groups"]')
    unknown = [f for f in facets if f not in FACET_FIELDS]
    if unknown:
        raise invalid(
            "facet.field",
            f"cannot count {', '.join(map(repr, unknown))}; facets are {', '.join(FACET_FIELDS)}",
        )
    sort_text = as_text(params, "sort") or "score desc, metadata_modified desc"
    return Search(
        q=q,
        filters=filters,
        sort=parse_sort(sort_text),
        sort_text=sort_text,
        offset=as_int(params, "start", default=0, maximum=None),
        limit=as_int(params, "rows", default=ROWS_DEFAULT, maximum=ROWS_MAX),
        facet_fields=list(dict.fromkeys(facets)),
        facet_limit=as_int(
            params, "facet.limit", default=FACET_LIMIT_DEFAULT, minimum=-1, maximum=None
        ),
        facet_mincount=as_int(params, "facet.mincount", default=1, maximum=None),
        nothing=nothing,
    )


def parse_sort(text: str | None) -> str:
    if not text:
        return "relevance"
    normal = ", ".join(" ".join(part.split()).lower() for part in text.split(","))
    try:
        return SORTS[normal]
    except KeyError:
        raise invalid(
            "sort", f"cannot sort by {text!r}; use one of: {', '.join(map(repr, SORTS))}"
        ) from None


# fq: `field:value`, `field:"quoted value"`, `field:(a OR "b c")`, optionally `+field:…`,
# joined by spaces or AND.
_TERM = re.compile(
    r"\+?(?P<field>[A-Za-z_][A-Za-z0-9_.]*):"
    r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|\((?P<group>[^()]*)\)|(?P<bare>[^\s"()]+))'
)
_GROUP_VALUE = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"()]+))\s*')
_UNQUOTE = re.compile(r"\\(.)")


class Resolver:
    """Turns CKAN names (organization ``cmb``, group ``envi``) into data hub codes."""

    def __init__(self, department_codes: Iterable[str]) -> None:
        self.departments = {code.lower(): code for code in department_codes}
        self.themes = {code.lower(): code for code in vocab.THEMES}

    def department(self, name: str) -> str | None:
        return self.departments.get(name.strip().lower())

    def theme(self, name: str) -> str | None:
        return self.themes.get(name.strip().lower())

    def value(self, ckan_field: str, value: str) -> str:
        """The data hub's value of a CKAN fq term (raises a Validation Error naming it)."""
        if ckan_field == "organization":
            return self.department(value) or value  # unknown: matches nothing, as in CKAN
        if ckan_field == "groups":
            return self.theme(value) or value
        if ckan_field == "res_format":
            return value.upper()
        if ckan_field == "access_level":
            if value.lower() not in {a.value for a in Access}:
                raise invalid("fq", f"access_level is one of {', '.join(a.value for a in Access)}")
            return value.lower()
        if ckan_field == "frequency":
            if value.lower() not in {f.value for f in Frequency}:
                choices = ", ".join(f.value for f in Frequency)
                raise invalid("fq", f"frequency is one of {choices}")
            return value.lower()
        return value


@dataclass(frozen=True, slots=True)
class FilterTerms:
    filters: dict[str, list[str]]
    nothing: bool  # a term asks for something the data hub never serves


def parse_fq(text: str, *, resolve: Resolver) -> FilterTerms:
    """``fq`` → the data hub's filters. Values of one field are alternatives (OR), except
    ``tags`` (the hub's ``keyword`` filter, case-insensitive), where a dataset needs every
    one."""
    filters: dict[str, list[str]] = {}
    nothing = False
    position = 0
    expect_term = True
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        joiner = next((j for j in ("AND", "&&") if text.startswith(j, position)), None)
        after = position + len(joiner or "")
        if joiner and not expect_term and (after == len(text) or text[after].isspace()):
            position = after
            expect_term = True
            continue
        match = _TERM.match(text, position)
        if match is None:
            raise invalid(
                "fq",
                f"cannot read {text[position : position + 40]!r}: write terms as field:value "
                'or field:"quoted value", joined by spaces or AND '
                f"(fields: {', '.join(FQ_FIELDS)})",
            )
        position = match.end()
        if position < len(text) and not text[position].isspace():
            raise invalid("fq", f"put a space after {match.group(0)!r}")
        expect_term = False
        name = match.group("field")
        values = _term_values(match)
        if name in NEUTRAL_TERMS:
            nothing = nothing or any(v not in NEUTRAL_TERMS[name] for v in values)
            continue
        if name == "capacity":
            name = "access_level"
            values = [
                access
                for value in values
                for access in (["open"] if value == "public" else ["shared", "restricted"])
            ]
        if name not in FQ_FIELDS:
            raise invalid("fq", f"cannot filter on {name!r}; fields are {', '.join(FQ_FIELDS)}")
        known = filters.setdefault(FQ_FIELDS[name], [])
        for value in values:
            resolved = resolve.value(name, value)
            if resolved not in known:
                known.append(resolved)
    if expect_term and text.strip():
        raise invalid("fq", "ends with AND: add a term after it")
    return FilterTerms(filters, nothing)


def _term_values(match: re.Match[str]) -> list[str]:
    if match.group("quoted") is not None:
        return [_UNQUOTE.sub(r"\1", match.group("quoted"))]
    if match.group("bare") is not None:
        return [match.group("bare")]
    values: list[str] = []
    parts = re.split(r"\s+OR\s+", match.group("group").strip())
    for part in parts:
        inner = _GROUP_VALUE.fullmatch(part)
        if inner is None or not part.strip():
            raise invalid("fq", f'cannot read ({match.group("group")}): use (a OR "b c")')
        values.append(
            _UNQUOTE.sub(r"\1", inner.group(1)) if inner.group(1) is not None else inner.group(2)
        )
    return values


@dataclass(frozen=True, slots=True)
class DatastoreRequest:
    """A ``datastore_search`` call as the rows API's parameters."""

    row_params: list[tuple[str, str]]
    fields: list[str] | None
    offset: int
    limit: int
    include_total: bool
    link_params: dict[str, str]  # what the _links repeat


def parse_datastore(params: Mapping[str, Any]) -> DatastoreRequest:
    """``filters``, ``q``, ``fields``, ``sort``, ``limit``, ``offset``, ``include_total``."""
    row_params: list[tuple[str, str]] = []
    links: dict[str, str] = {}
    filters = as_json(params, "filters")
    if filters is not None:
        if not isinstance(filters, dict):
            raise invalid("filters", 'must be a JSON object, e.g. {"district": "110101"}')
        for name, value in filters.items():
            row_params.append(_filter_param(str(name), value))
        links["filters"] = json.dumps(filters, ensure_ascii=False)
    q = as_json(params, "q") if _looks_like_object(params.get("q")) else params.get("q")
    if isinstance(q, dict):
        for name, text in q.items():
            if not isinstance(text, str):
                raise invalid("q", f"the text to look for in {name!r} must be a string")
            row_params.append((f"{name}__contains", text))
    elif q is not None and str(q).strip():
        row_params.append(("q", str(q).strip()))
        links["q"] = str(q).strip()
    fields = [name for name in as_names(params, "fields") or [] if name != "_id"] or None
    if fields:
        row_params.append(("fields", ",".join(fields)))
        links["fields"] = ",".join(fields)
    sort_text = as_text(params, "sort")
    sort = datastore_sort(sort_text)
    if sort:
        row_params.append(("sort", sort))
    if sort_text:
        links["sort"] = sort_text
    records_format = as_text(params, "records_format") or "objects"
    if records_format != "objects":
        raise invalid("records_format", "only 'objects' is served")
    limit = as_int(params, "limit", default=DATASTORE_LIMIT_DEFAULT, maximum=DATASTORE_LIMIT_MAX)
    offset = as_int(params, "offset", default=0, maximum=None)
    include_total = as_bool(params, "include_total", default=True)
    row_params += [("limit", str(limit)), ("offset", str(offset))]
    if include_total:
        row_params.append(("total", "true"))
    if limit != DATASTORE_LIMIT_DEFAULT:
        links["limit"] = str(limit)
    return DatastoreRequest(row_params, fields, offset, limit, include_total, links)


def _looks_like_object(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, str) and value.lstrip().startswith("{"))


def _filter_param(name: str, value: Any) -> tuple[str, str]:
    """One ``filters`` entry as a rows-API filter (a list: any of the values)."""
    if value is None:
        return f"{name}__isnull", "true"
    if isinstance(value, list):
        texts = [_scalar(name, item) for item in value]
        if any("," in text for text in texts):
            raise invalid("filters", f"{name}: a list of values cannot contain commas")
        if len(texts) == 1:
            return name, texts[0]
        return f"{name}__in", ",".join(texts)
    return name, _scalar(name, value)


def _scalar(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise invalid("filters", f"{name}: give a value or a list of values, not {value!r}")


def datastore_sort(text: str | None) -> str | None:
    """CKAN ``"a asc, b desc"`` → the rows API's ``a,-b``.

    ``_id`` is the stored row id, which the rows API always uses last, ascending, to break
    ties: ``_id asc`` ends the sort (later keys cannot change the order of unique ids), and
    ``_id desc`` is refused.
    """
    if not text:
        return None
    keys: list[str] = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in {"asc", "desc"}):
            raise invalid(
                "sort", f"cannot read {part.strip()!r}: write 'field asc' or 'field desc'"
            )
        name = words[0].strip('"')
        descending = len(words) == 2 and words[1].lower() == "desc"
        if name == "_id":
            if descending:
                raise invalid(
                    "sort",
                    "cannot sort by '_id desc': rows come in stored order ('_id asc') after "
                    "the other sort keys; sort by a field descending instead",
                )
            break
        keys.append(f"-{name}" if descending else name)
    return ",".join(keys) or None
