"""Parsing of SensorThings query options into :mod:`~cityos.sensing.sta.query_ast` values.

``$filter`` and ``$orderby`` go through a small recursive-descent parser over OData tokens;
``$expand`` items may carry nested options in parentheses separated by ``;``. Property
paths are checked against the entity model here, so unknown names are reported (400) before
any SQL is built. Syntax errors say at which character (1-based) they were found.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from cityos.errors import InvalidInput, NotImplementedFeature
from cityos.sensing.sta.entities import EntityType, Kind, Nav, Prop
from cityos.sensing.sta.entities import entity as entity_named
from cityos.sensing.sta.query_ast import (
    ARITHMETIC,
    COMPARISONS,
    BinOp,
    Call,
    Expand,
    Expr,
    Literal,
    Neg,
    Not,
    OrderItem,
    Path,
    QueryLimits,
    QueryOptions,
    paths,
)

MAX_COUNT = 2**31 - 1  # the largest $top / $skip accepted
_INT64 = 2**63 - 1  # number literals must fit a 64-bit integer


def _words(text: str) -> list[str]:
    return text.split()


SUPPORTED = frozenset(
    {"$filter", "$orderby", "$select", "$expand", "$top", "$skip", "$count", "$resultFormat"}
)
# OData system query options this server does not offer: 501, not 400.
UNSUPPORTED = frozenset(
    _words("$search $apply $format $levels $compute $index $schemaversion $deltatoken")
    + _words("$skiptoken $id")
)

# name → (fewest, most) arguments
FUNCTIONS: dict[str, tuple[int, int]] = {
    **dict.fromkeys(_words("substringof contains endswith startswith indexof concat"), (2, 2)),
    **dict.fromkeys(_words("length tolower toupper trim round floor ceiling"), (1, 1)),
    **dict.fromkeys(
        _words("year month day hour minute second fractionalseconds date time totaloffsetminutes"),
        (1, 1),
    ),
    "substring": (2, 3),
    "now": (0, 0),
    "mindatetime": (0, 1),
    "maxdatetime": (0, 1),
    "geo.distance": (2, 2),
    "geo.length": (1, 1),
    **dict.fromkeys(
        _words(
            "geo.intersects st_equals st_disjoint st_touches st_within st_overlaps st_crosses "
            "st_intersects st_contains"
        ),
        (2, 2),
    ),
    "st_relate": (3, 3),
}

MAX_FILTER_CHARS = 64 * 1024
_JSON_KEY = re.compile(r"[A-Za-z0-9_]+")

# --- property paths --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """A property path checked against the model: the navigation steps taken (each with the
    entity type it starts from), the entity type and property reached, and any keys inside
    a JSON property (``properties/owner`` → keys ``("owner",)``)."""

    steps: tuple[tuple[EntityType, Nav], ...]
    target: EntityType
    prop: Prop
    keys: tuple[str, ...]

    @property
    def to_many(self) -> bool:
        return any(nav.many for _, nav in self.steps)


def resolve_path(root: EntityType, segments: tuple[str, ...], *, what: str) -> Resolved:
    """Resolve ``segments`` from ``root``; unknown names raise :class:`InvalidInput`."""
    text = "/".join(segments)
    current = root
    steps: list[tuple[EntityType, Nav]] = []
    index = 0
    while index < len(segments):
        nav = current.nav(segments[index])
        if nav is None:
            break
        steps.append((current, nav))
        current = entity_named(nav.target)
        index += 1
    if index == len(segments):
        raise InvalidInput(
            f"{what}: '{text}' ends at the navigation property '{segments[-1]}'; "
            f"name one of its properties, e.g. '{text}/id'"
        )
    name = "id" if segments[index] == "@iot.id" else segments[index]
    prop = current.prop(name)
    if prop is None:
        known = ", ".join(sorted([*current.props, *current.navs]))
        raise InvalidInput(
            f"{what}: unknown property '{segments[index]}' of {current.name} in '{text}' "
            f"(known: {known})"
        )
    keys = segments[index + 1 :]
    if keys and prop.kind not in (Kind.JSON, Kind.RESULT):
        raise InvalidInput(
            f"{what}: '{prop.name}' of {current.name} has no sub-properties (in '{text}')"
        )
    for key in keys:
        if not _JSON_KEY.fullmatch(key):
            raise InvalidInput(
                f"{what}: '{key}' in '{text}' is not a usable key; keys may hold letters, "
                "digits and '_'"
            )
    return Resolved(tuple(steps), current, prop, keys)


# --- tokens -----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<geo>(?:geography|geometry)'(?:[^']|'')*')
  | (?P<duration>duration'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|z|[+-]\d{2}:?\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_@][A-Za-z0-9_.@]*)
  | (?P<punct>[(),/-])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # geo duration string datetime date time number name punct end
    text: str
    pos: int


def _tokens(text: str, what: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] == "'" or text[pos:].startswith(("geography'", "geometry'")):
                raise InvalidInput(f"{what}: the text starting at position {pos + 1} is not closed")
            raise InvalidInput(f"{what}: unexpected character {text[pos]!r} at position {pos + 1}")
        kind = match.lastgroup or "punct"
        if kind != "space":
            out.append(_Token(kind, match.group(), pos))
        pos = match.end()
    out.append(_Token("end", "", len(text)))
    return out


def _unquote(body: str) -> str:
    return body.replace("''", "'")


_DURATION = re.compile(
    r"(-)?P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)


def _literal(token: _Token, what: str) -> Literal:
    at = f"at position {token.pos + 1}"
    text = token.text
    try:
        if token.kind == "string":
            return Literal(_unquote(text[1:-1]), "string", token.pos)
        if token.kind == "number":
            number: int | float = float(text) if any(c in text for c in ".eE") else int(text)
            if isinstance(number, int) and abs(number) > _INT64:
                raise InvalidInput(
                    f"{what}: the number {text} {at} is out of range; whole numbers must lie "
                    f"between -{_INT64} and {_INT64}"
                )
            if isinstance(number, float) and not math.isfinite(number):
                raise InvalidInput(
                    f"{what}: the number {text} {at} is out of range; use a finite number "
                    "(at most about 1.8e308)"
                )
            return Literal(number, "number", token.pos)
        if token.kind == "datetime":
            moment = datetime.fromisoformat(text.replace("z", "Z"))
            if moment.tzinfo is None:
                raise InvalidInput(
                    f"{what}: the time {text} {at} has no timezone; add 'Z' or an offset"
                )
            try:
                moment.astimezone(UTC)
            except OverflowError:
                raise InvalidInput(
                    f"{what}: the time {text} {at} falls outside the years 1 to 9999 in UTC"
                ) from None
            return Literal(moment, "datetime", token.pos)
        if token.kind == "date":
            return Literal(date.fromisoformat(text), "date", token.pos)
        if token.kind == "time":
            return Literal(time.fromisoformat(text), "time", token.pos)
        if token.kind == "duration":
            match = _DURATION.fullmatch(_unquote(text[len("duration'") : -1]))
            if match is None or not any(match.groups()[1:]):
                raise ValueError("bad duration")
            sign, d, h, m, s = match.groups()
            span = timedelta(
                days=float(d or 0),
                hours=float(h or 0),
                minutes=float(m or 0),
                seconds=float(s or 0),
            )
            return Literal(-span if sign else span, "duration", token.pos)
        # geography'…' / geometry'…': WKT, an optional SRID prefix removed
        wkt = _unquote(text[text.index("'") + 1 : -1]).strip()
        wkt = re.sub(r"^SRID=\d+;", "", wkt, flags=re.IGNORECASE)
        return Literal(wkt, "geography", token.pos)
    except (ValueError, OverflowError) as error:
        raise InvalidInput(f"{what}: {text!r} {at} is not a valid literal ({error})") from None


# --- the expression parser -------------------------------------------------------------------


class _Parser:
    """Recursive descent over the tokens; counts nodes and nesting against the limits."""

    def __init__(self, text: str, what: str, max_nodes: int) -> None:
        if len(text) > MAX_FILTER_CHARS:
            raise InvalidInput(f"{what} is longer than {MAX_FILTER_CHARS} characters")
        self.what = what
        self.tokens = _tokens(text, what)
        self.index = 0
        self.max_nodes = max_nodes
        self.max_depth = 32  # parentheses, not and unary minus nested; keeps the stack small
        self.nodes = 0
        self.depth = 0

    # helpers
    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        return self.token.kind == "name" and self.token.text in words

    def at_punct(self, char: str) -> bool:
        return self.token.kind == "punct" and self.token.text == char

    def fail(self, expected: str) -> InvalidInput:
        token = self.token
        found = "the end" if token.kind == "end" else repr(token.text)
        return InvalidInput(
            f"{self.what}: expected {expected} at position {token.pos + 1}, found {found}"
        )

    def expect(self, char: str) -> None:
        if not self.at_punct(char):
            raise self.fail(f"'{char}'")
        self.advance()

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise InvalidInput(
                f"{self.what} is too large: more than {self.max_nodes} operators, calls and "
                "operands; split the query"
            )

    # grammar: or > and > not > comparison > additive > multiplicative > unary > primary
    def expression(self) -> Expr:
        return self._nested(self._or)

    def _nested(self, parse: Callable[[], Expr]) -> Expr:
        self.depth += 1
        if self.depth > self.max_depth:
            raise InvalidInput(
                f"{self.what} nests deeper than {self.max_depth} levels at position "
                f"{self.token.pos + 1}"
            )
        try:
            return parse()
        finally:
            self.depth -= 1

    def _binary(self, ops: frozenset[str], operand: str) -> Expr:
        parse = getattr(self, operand)
        left: Expr = parse()
        while self.token.kind == "name" and self.token.text in ops:
            token = self.advance()
            self.count()
            left = BinOp(token.text, left, parse(), token.pos)
        return left

    def _or(self) -> Expr:
        return self._binary(frozenset({"or"}), "_and")

    def _and(self) -> Expr:
        return self._binary(frozenset({"and"}), "_not")

    def _not(self) -> Expr:
        if self.at_word("not"):
            token = self.advance()
            self.count()
            return Not(self._nested(self._not), token.pos)
        return self._comparison()

    def _comparison(self) -> Expr:
        left = self._additive()
        if self.token.kind == "name" and self.token.text in COMPARISONS:
            token = self.advance()
            self.count()
            left = BinOp(token.text, left, self._additive(), token.pos)
            if self.token.kind == "name" and self.token.text in COMPARISONS:
                raise self.fail("'and', 'or' or ')' (comparisons do not chain)")
        return left

    def _additive(self) -> Expr:
        return self._binary(frozenset({"add", "sub"}), "_multiplicative")

    def _multiplicative(self) -> Expr:
        return self._binary(frozenset({"mul", "div", "mod"}), "_unary")

    def _unary(self) -> Expr:
        if self.at_punct("-"):
            token = self.advance()
            operand = self._nested(self._unary)
            if isinstance(operand, Literal) and operand.kind in ("number", "duration"):
                assert isinstance(operand.value, int | float | timedelta)
                return Literal(-operand.value, operand.kind, token.pos)
            self.count()
            return Neg(operand, token.pos)
        return self._primary()

    def _primary(self) -> Expr:
        token = self.token
        if self.at_punct("("):
            self.advance()
            inner = self.expression()
            self.expect(")")
            return inner
        if token.kind in ("string", "number", "datetime", "date", "time", "duration", "geo"):
            self.advance()
            self.count()
            return _literal(token, self.what)
        if token.kind != "name":
            raise self.fail("a property, a literal, a function or '('")
        self.advance()
        self.count()
        if token.text in ("true", "false"):
            return Literal(token.text == "true", "boolean", token.pos)
        if token.text == "null":
            return Literal(None, "null", token.pos)
        if self.at_punct("("):
            return self._call(token)
        if token.text in COMPARISONS or token.text in ARITHMETIC or token.text in ("and", "or"):
            raise InvalidInput(
                f"{self.what}: expected an operand at position {token.pos + 1}, "
                f"found the operator '{token.text}'"
            )
        segments = [token.text]
        while self.at_punct("/"):
            self.advance()
            part = self.token
            if part.kind not in ("name", "number") or "." in part.text:
                raise self.fail("a property name after '/'")
            segments.append(self.advance().text)
        return Path(tuple(segments), token.pos)

    def _call(self, token: _Token) -> Call:
        name = token.text.lower()
        if name not in FUNCTIONS:
            raise InvalidInput(
                f"{self.what}: unknown function '{token.text}' at position {token.pos + 1}"
            )
        self.expect("(")
        args: list[Expr] = []
        if not self.at_punct(")"):
            args.append(self.expression())
            while self.at_punct(","):
                self.advance()
                args.append(self.expression())
        self.expect(")")
        fewest, most = FUNCTIONS[name]
        if not fewest <= len(args) <= most:
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise InvalidInput(
                f"{self.what}: {name}() at position {token.pos + 1} takes {wanted} "
                f"argument(s), not {len(args)}"
            )
        return Call(name, tuple(args), token.pos)

    def finish(self) -> None:
        if self.token.kind != "end":
            raise self.fail("the end of the expression (or an operator)")


def parse_filter(text: str, *, entity: EntityType | None = None, max_nodes: int = 300) -> Expr:
    """Parse a ``$filter`` expression; with ``entity``, check its property paths too."""
    if not text.strip():
        raise InvalidInput("$filter is empty; give an expression such as name eq 'x'")
    parser = _Parser(text, "$filter", max_nodes)
    expr = parser.expression()
    parser.finish()
    if entity is not None:
        for path in paths(expr):
            resolve_path(entity, path.segments, what="$filter")
    return expr


def parse_orderby(
    text: str, *, entity: EntityType | None = None, max_nodes: int = 300
) -> tuple[OrderItem, ...]:
    """Parse ``$orderby``: comma-separated keys, each optionally followed by asc or desc."""
    if not text.strip():
        raise InvalidInput("$orderby is empty; give a property such as phenomenonTime desc")
    parser = _Parser(text, "$orderby", max_nodes)
    items: list[OrderItem] = []
    while True:
        expr = parser.expression()
        descending = False
        if parser.token.kind == "name" and parser.token.text.lower() in ("asc", "desc"):
            descending = parser.advance().text.lower() == "desc"
        items.append(OrderItem(expr.segments if isinstance(expr, Path) else (), descending, expr))
        if not parser.at_punct(","):
            break
        parser.advance()
    parser.finish()
    if entity is not None:
        for item in items:
            assert item.expr is not None
            for path in paths(item.expr):
                resolved = resolve_path(entity, path.segments, what="$orderby")
                if resolved.to_many:
                    raise InvalidInput(
                        f"$orderby: '{path.text}' goes through a to-many navigation property; "
                        "order by properties of this entity or of related single entities"
                    )
    return tuple(items)


# --- $select and $expand -----------------------------------------------------------------------


def parse_select(text: str, *, entity: EntityType) -> tuple[str, ...] | None:
    """``$select``: wire names of properties and navigation properties (``@iot.id`` → id)."""
    names: list[str] = []
    unknown: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if name == "*":
            return None
        if name == "@iot.id":
            name = "id"
        if not name:
            raise InvalidInput("$select has an empty item; separate property names by ','")
        if entity.prop(name) is None and entity.nav(name) is None:
            unknown.append(name)
        elif name not in names:
            names.append(name)
    if unknown:
        known = ", ".join(sorted([*entity.props, *entity.navs]))
        raise InvalidInput(
            f"$select: unknown propert{'y' if len(unknown) == 1 else 'ies'} "
            f"{', '.join(repr(u) for u in unknown)} of {entity.name} (known: {known})"
        )
    return tuple(names)


def _split_top(text: str, separator: str, what: str) -> list[tuple[str, int]]:
    """Split at ``separator`` outside parentheses and quotes; each part with its offset."""
    parts: list[tuple[str, int]] = []
    depth = 0
    quoted = False
    start = 0
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise InvalidInput(f"{what}: unmatched ')' at position {index + 1}")
        elif char == separator and depth == 0:
            parts.append((text[start:index], start))
            start = index + 1
    if depth or quoted:
        raise InvalidInput(f"{what}: unclosed {'quote' if quoted else '('}")
    parts.append((text[start:], start))
    return parts


def _merge(first: Expand, second: Expand) -> Expand:
    """One Expand of the same navigation property from two items (``A/B,A/C``)."""
    a, b = first.options, second.options
    expands = list(a.expand)
    for extra in b.expand:
        for i, existing in enumerate(expands):
            if existing.nav == extra.nav:
                expands[i] = _merge(existing, extra)
                break
        else:
            expands.append(extra)
    plain = QueryOptions()
    merged = replace(
        a,
        **{
            name: getattr(b, name)
            for name in ("filter", "orderby", "select", "top", "skip", "count", "result_format")
            if getattr(b, name) != getattr(plain, name)
        },
    )
    return Expand(first.nav, replace(merged, expand=tuple(expands)))


def parse_expand(
    text: str, *, entity: EntityType, limits: QueryLimits, depth: int = 0
) -> tuple[Expand, ...]:
    """``$expand``: comma-separated paths ``A/B`` with nested options ``A($top=1;$select=x)``."""
    result: list[Expand] = []
    for raw, offset in _split_top(text, ",", "$expand"):
        item = raw.strip()
        if not item:
            raise InvalidInput("$expand has an empty item; separate navigation paths by ','")
        nested = ""
        if "(" in item:
            if not item.endswith(")"):
                raise InvalidInput(
                    f"$expand: text after ')' in '{item}' (at position {offset + 1})"
                )
            nested = item[item.index("(") + 1 : -1]
            item = item[: item.index("(")].strip()
        names = [part.strip() for part in item.split("/")]
        if depth + len(names) > limits.max_expand_depth:
            raise InvalidInput(
                f"$expand: '{item}' nests {depth + len(names)} levels deep; at most "
                f"{limits.max_expand_depth} are allowed"
            )
        current = entity
        chain: list[tuple[EntityType, str]] = []
        for name in names:
            nav = current.nav(name)
            if nav is None:
                known = ", ".join(sorted(current.navs)) or "none"
                raise InvalidInput(
                    f"$expand: '{name}' is not a navigation property of {current.name} "
                    f"(known: {known})"
                )
            current = entity_named(nav.target)
            chain.append((current, name))
        options = QueryOptions()
        if nested.strip():
            params: dict[str, str] = {}
            for part, _ in _split_top(nested, ";", f"$expand={names[0]}(…)"):
                key, sep, value = part.partition("=")
                key = key.strip()
                if not sep or not key.startswith("$"):
                    raise InvalidInput(
                        f"$expand: nested option '{part.strip()}' in '{item}' must look like "
                        "$name=value"
                    )
                params[key] = value
            options = parse_options(params, entity=current, limits=limits, depth=depth + len(names))
        expand = Expand(chain[-1][1], options)
        for _, name in reversed(chain[:-1]):
            expand = Expand(name, QueryOptions(expand=(expand,)))
        for i, existing in enumerate(result):
            if existing.nav == expand.nav:
                result[i] = _merge(existing, expand)
                break
        else:
            result.append(expand)
    return tuple(result)


# --- all options ---------------------------------------------------------------------------------


def _count_of(value: str, what: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"{what} must be a whole number ≥ 0, not {value!r}")
    number = int(text)
    if number > MAX_COUNT:
        raise InvalidInput(f"{what} must be at most {MAX_COUNT}, not {text}")
    return number


def parse_options(
    params: Mapping[str, str], *, entity: EntityType, limits: QueryLimits, depth: int = 0
) -> QueryOptions:
    """The query options of a request on a collection or entity of type ``entity``.

    Parameters not starting with ``$`` are ignored. Unknown options and bad values raise
    :class:`InvalidInput` (400); OData options this server does not offer raise
    :class:`NotImplementedFeature` (501). ``depth`` is the ``$expand`` level of ``entity``.
    """
    for key in params:
        if not key.startswith("$") or key in SUPPORTED:
            continue
        if key in UNSUPPORTED:
            raise NotImplementedFeature(f"the query option {key} is not supported by this server")
        raise InvalidInput(f"unknown query option {key}; use one of {', '.join(sorted(SUPPORTED))}")
    filter_expr = None
    if "$filter" in params:
        filter_expr = parse_filter(
            params["$filter"], entity=entity, max_nodes=limits.max_filter_nodes
        )
    orderby: tuple[OrderItem, ...] = ()
    if "$orderby" in params:
        orderby = parse_orderby(
            params["$orderby"], entity=entity, max_nodes=limits.max_filter_nodes
        )
    select = parse_select(params["$select"], entity=entity) if "$select" in params else None
    expand: tuple[Expand, ...] = ()
    if params.get("$expand", "").strip():
        expand = parse_expand(params["$expand"], entity=entity, limits=limits, depth=depth)
    top = _count_of(params["$top"], "$top") if "$top" in params else None
    skip = _count_of(params["$skip"], "$skip") if "$skip" in params else 0
    count = False
    if "$count" in params:
        flag = params["$count"].strip().lower()
        if flag not in ("true", "false"):
            raise InvalidInput(f"$count must be true or false, not {params['$count']!r}")
        count = flag == "true"
    result_format = None
    if "$resultFormat" in params:
        if params["$resultFormat"].strip().lower() != "dataarray":
            raise InvalidInput(
                f"$resultFormat {params['$resultFormat']!r} is not offered; use dataArray"
            )
        result_format = "dataArray"
    return QueryOptions(
        filter=filter_expr,
        orderby=orderby,
        select=select,
        expand=expand,
        top=top,
        skip=skip,
        count=count,
        result_format=result_format,
    )
