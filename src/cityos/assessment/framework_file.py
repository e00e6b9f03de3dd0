"""Framework documents: YAML / JSON ⇄ :class:`~cityos.assessment.framework.Framework`.

Two equivalent shapes (see docs/assessment-frameworks.md): nested — ``root:`` with
``children:`` (a node with children is a group, one without is an indicator) — and flat —
``nodes:``, a list of rows ``{code, parent, …}`` as a spreadsheet or the UI editor produces
them. Both are read into one tree of ``NodeSpec`` (framework_nodes.py reads each node's
values) and checked as a whole here: unique codes, orphans, cycles and roots, groups with
children, weight sums, the default run config. Every problem is collected with its place
in the document (``root.children[2] (A 惠民服务).weight``) and raised as one InvalidInput,
so a user fixes a file in one pass. ``dump`` writes the nested shape, and
``parse(dump(framework)) == framework``. framework.py re-exports ``parse_framework``,
``load_framework`` and ``dump_framework``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cityos.assessment.framework import Framework, Group, Indicator, Source
from cityos.assessment.framework_nodes import (
    FRAMEWORK_KEYS,
    NodeSpec,
    Problem,
    Reader,
    filled,
    read_node,
    read_tiers,
    shown,
)
from cityos.assessment.runconfig import NormaliseMethod, RunConfig
from cityos.errors import InvalidInput

TOLERANCE = 1e-6  # relative, for weight sums (as the engine's structure.py)


def _nested(raw: Any, path: str, reader: Reader) -> NodeSpec | None:
    spec = read_node(raw, path, reader, flat=False)
    if spec is None or not isinstance(raw, Mapping) or "children" not in raw:
        return spec
    spec.is_group = True
    children = raw["children"]
    if not isinstance(children, list):
        reader.add(f"{spec.where}.children", f"must be a list of nodes, not {shown(children)}")
        return spec
    for index, child in enumerate(children):
        child_spec = _nested(child, f"{path}.children[{index}]", reader)
        if child_spec is not None:
            spec.children.append(child_spec)
    return spec


def _flat(rows: Any, reader: Reader) -> tuple[NodeSpec | None, list[NodeSpec]]:
    """Link the rows of ``nodes:`` into a tree; report orphans, cycles and extra roots."""
    if not isinstance(rows, list):
        reader.add("nodes", f"must be a list of rows {{code, parent, …}}, not {shown(rows)}")
        return None, []
    specs = [
        spec
        for index, row in enumerate(rows)
        if (spec := read_node(row, f"nodes[{index}]", reader, flat=True)) is not None
    ]
    at: dict[str, NodeSpec] = {}
    for spec in specs:
        if spec.code is not None:
            at.setdefault(spec.code, spec)
    roots = [spec for spec in specs if spec.parent is None]
    if not roots:
        reader.add("nodes", "no root: exactly one row (the index itself) must have no parent")
    elif len(roots) > 1:
        reader.add(
            "nodes",
            "more than one root: "
            + " and ".join(spec.where for spec in roots[:5])
            + " have no parent; only the index itself may have none",
        )
    for spec in specs:
        if spec.parent is not None and spec.parent not in at:
            reader.add(
                f"{spec.where}.parent",
                f"unknown parent {spec.parent!r}: no row has this code (an orphan); "
                "fix the parent or add the row",
            )
    _report_cycles(specs, at, reader)
    for spec in specs:
        parent = at.get(spec.parent) if spec.parent is not None else None
        if parent is not None:
            parent.children.append(spec)
            parent.is_group = True
    return (roots[0] if roots else None), specs


def _report_cycles(specs: list[NodeSpec], at: dict[str, NodeSpec], reader: Reader) -> None:
    done: set[int] = set()
    for start in specs:
        path: list[NodeSpec] = []
        on_path: dict[int, int] = {}
        node: NodeSpec | None = start
        while node is not None and id(node) not in done:
            if id(node) in on_path:
                cycle = path[on_path[id(node)] :]
                codes = " → ".join(str(spec.code) for spec in [*cycle, cycle[0]])
                reader.add(
                    f"{cycle[0].where}.parent",
                    f"cycle: {codes}; a node cannot be its own ancestor",
                )
                break
            on_path[id(node)] = len(path)
            path.append(node)
            node = at.get(node.parent) if node.parent is not None else None
        done.update(on_path)


def _walk(root: NodeSpec) -> list[NodeSpec]:
    """Every node under ``root`` (itself first), depth-first, without recursion."""
    out: list[NodeSpec] = []
    stack = [root]
    while stack:
        spec = stack.pop()
        out.append(spec)
        stack.extend(reversed(spec.children))
    return out


def _name(spec: NodeSpec) -> str:
    return " ".join(part for part in (spec.code, spec.name_zh or spec.name_en) if part)


def _check_tree(root: NodeSpec, everything: list[NodeSpec], reader: Reader) -> None:
    """Unique codes, a group for the root, groups with children and no indicator keys."""
    first: dict[str, NodeSpec] = {}
    for spec in everything:
        if spec.code is None:
            continue
        if spec.code in first:
            reader.add(
                f"{spec.where}.code",
                f"the code {spec.code!r} is used twice: here and at {first[spec.code].where}; "
                "every group and indicator needs its own code",
            )
        else:
            first[spec.code] = spec
    if not root.is_group:
        reader.add(root.where, "the root (the index itself) must be a group with children")
    if root.weight is not None:
        reader.add(f"{root.where}.weight", "the root weighs the framework's total: set total:")
    for spec in _walk(root):
        if not spec.is_group:
            continue
        if not spec.children:
            reader.add(
                f"{spec.where}.children",
                "a group needs at least one child: add indicators or remove the group",
            )
        if spec.given:
            keys = ", ".join(spec.given)
            reader.add(
                spec.where,
                f"{keys} {'is' if len(spec.given) == 1 else 'are'} for indicators, but this node "
                "has children (a group): move them to its indicators",
            )


def _check_weights(
    root: NodeSpec, total: float, tiers: Sequence[str], reader: Reader, *, allow_unbalanced: bool
) -> None:
    """The children of a group sum to the group's weight (the root's to ``total``), for the
    framework weights and for each tier that has tier-specific weights."""
    specs = _walk(root)
    for tier in (None, *tiers):
        if tier is None or any(tier in spec.tier_weights for spec in specs):
            _resolve(root, tier, total, reader, allow_unbalanced=allow_unbalanced, is_root=True)


def _resolve(
    spec: NodeSpec,
    tier: str | None,
    total: float,
    reader: Reader,
    *,
    allow_unbalanced: bool,
    is_root: bool = False,
) -> tuple[float | None, bool]:
    """This node's weight (a group without one weighs its children's sum; None: an equal
    share), and whether it or a node below has a weight for ``tier``."""
    mine = tier is not None and tier in spec.tier_weights
    own = spec.tier_weights[tier] if tier is not None and mine else spec.weight
    if not spec.is_group or not spec.children:
        return own, mine
    results = [
        _resolve(child, tier, total, reader, allow_unbalanced=allow_unbalanced)
        for child in spec.children
    ]
    given = [weight for weight, _ in results]
    has_tier = mine or any(below for _, below in results)
    report = tier is None or has_tier  # otherwise the same as the framework weights
    where = f"{spec.where}.children"
    of = f"the children of {_name(spec)}" + (f" (tier {tier})" if tier is not None else "")
    if all(weight is None for weight in given):
        return own, has_tier
    if any(weight is None for weight in given):
        if report:
            missing = [
                str(child.code) for child, w in zip(spec.children, given, strict=True) if w is None
            ]
            reader.add(
                where,
                f"{of} mix given and omitted weights ({', '.join(missing)} have none): give "
                "every child a weight, or none for equal weights",
            )
        return own, has_tier
    found = math.fsum(weight for weight in given if weight is not None)
    if found <= 0:
        if report:
            reader.add(where, f"weights of {of} sum to 0: give at least one a positive weight")
        return own, has_tier
    expected = total if is_root else own
    if expected is None:
        return found, has_tier
    if (
        report
        and not allow_unbalanced
        and abs(found - expected) > TOLERANCE * max(abs(expected), abs(found))
    ):
        whose = "the framework's total" if is_root else f"{spec.code}'s weight"
        reader.add(
            where,
            f"Weights of {of} sum to {found:.6g}, but {whose} is {expected:.6g}: fix the "
            "weights or run with weights.renormalise: true",
        )
    return expected, has_tier


def _run_config_fields(loc: Sequence[str]) -> list[str]:
    """The valid keys of the run-config section at ``loc`` (``["normalise"]``)."""
    model: type[BaseModel] = RunConfig
    for part in loc:
        info = model.model_fields.get(part)
        annotation = info.annotation if info is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _method(
    value: Any, reader: Reader, tiers: Sequence[str], indicators: list[NodeSpec]
) -> dict[str, Any]:
    """The framework's default run config, validated as RunConfig overrides."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        reader.add("method", "must be a mapping of run-config sections: {normalise: {…}, …}")
        return {}
    try:
        config = RunConfig().merged(dict(value))
    except ValidationError as error:
        for item in error.errors():
            loc = [str(part) for part in item["loc"]]
            where = ".".join(["method", *loc])
            if item["type"] == "extra_forbidden":
                valid = _run_config_fields(loc[:-1])
                reader.add(where, f"unknown key {loc[-1]!r}; valid keys: {', '.join(valid)}")
            elif isinstance(item.get("input"), str | int | float):
                reader.add(where, f"{item['input']!r} is not allowed: {item['msg']}")
            else:
                reader.add(where, str(item["msg"]))
        return {}
    if config.weights.tier is not None and config.weights.tier not in tiers:
        declared = ", ".join(tiers) or "none"
        reader.add(
            "method.weights.tier",
            f"{config.weights.tier!r} is not a declared tier (declared: {declared})",
        )
    needs = {
        NormaliseMethod.GOALPOSTS: ("goalposts", "goalposts"),
        NormaliseMethod.DISTANCE_TO_TARGET: ("target", "a target"),
    }.get(config.normalise.method)
    if needs is not None:
        key, what = needs
        lacking = [str(spec.code) for spec in indicators if spec.fields[key] is None]
        if lacking:
            shown = ", ".join(lacking[:5]) + (" …" if len(lacking) > 5 else "")
            reader.add(
                "method.normalise.method",
                f"{config.normalise.method.value} needs {what} on every indicator; "
                f"{len(lacking)} have none ({shown})",
            )
    return copy.deepcopy(dict(value))


def _build(spec: NodeSpec) -> Group | Indicator:
    code = spec.code or ""
    if spec.is_group:
        return Group(
            code=code,
            name_en=spec.name_en,
            name_zh=spec.name_zh,
            children=tuple(_build(child) for child in spec.children),
            weight=spec.weight,
            tier_weights=spec.tier_weights,
            description_en=spec.description_en,
            description_zh=spec.description_zh,
        )
    fields = spec.fields
    return Indicator(
        code=code,
        name_en=spec.name_en,
        name_zh=spec.name_zh,
        direction=fields["direction"],
        unit=fields["unit"],
        weight=spec.weight,
        tier_weights=spec.tier_weights,
        goalposts=fields["goalposts"],
        target=fields["target"],
        denominator=fields["denominator"],
        source=fields["source"],
        description_en=spec.description_en,
        description_zh=spec.description_zh,
        source_header=fields["source_header"],
    )


def _with_defaults(raw: Any, defaults: Mapping[str, Any]) -> Any:
    """The root may leave out its code and names: the framework's are used."""
    if not isinstance(raw, Mapping):
        return raw
    names = ("name", "name_en", "name_zh")
    out = dict(raw)
    if not any(filled(raw.get(key)) for key in names):
        out.update({key: defaults[key] for key in names if filled(defaults.get(key))})
    if "code" in defaults and not filled(raw.get("code")):
        out["code"] = defaults["code"]
    return out


def parse(data: Mapping[str, Any], *, allow_unbalanced: bool = False) -> Framework:
    """Read and check a framework document; InvalidInput lists every problem found."""
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"A framework document must be a mapping (code, name, root: or nodes:), "
            f"not {shown(data)}."
        )
    reader = Reader()
    reader.unknown_keys(data, FRAMEWORK_KEYS, "")
    reader.tiers = read_tiers(data.get("tiers"), reader)
    code = reader.code(data.get("code"), "code")
    name_en, name_zh = reader.names(data, "")
    description_en, description_zh = reader.texts(data, "description", "")
    version = reader.text(data.get("version"), "version") or ""
    total = reader.number(data.get("total"), "total")
    if total is not None and total <= 0:
        reader.add("total", f"total must be a positive number, not {total:g}")
    root: NodeSpec | None = None
    everything: list[NodeSpec] = []
    defaults = {key: data.get(key) for key in ("name", "name_en", "name_zh")}
    if "root" in data and "nodes" in data:
        reader.add("root", "give either root: (nested) or nodes: (flat), not both")
    elif "root" in data:
        if isinstance(data["root"], list):
            reader.add(
                "root",
                f"more than one root ({len(data['root'])}): the index is one group; "
                "put these under its children:",
            )
        else:
            root = _nested(_with_defaults(data["root"], {**defaults, "code": code}), "root", reader)
            everything = _walk(root) if root is not None else []
    elif "nodes" in data:
        rows = data["nodes"]
        if isinstance(rows, list):
            rows = [
                _with_defaults(row, defaults)
                if isinstance(row, Mapping) and not filled(row.get("parent"))
                else row
                for row in rows
            ]
        root, everything = _flat(rows, reader)
    else:
        reader.add("root", "missing: give the tree under root: (nested) or nodes: (flat)")
    indicators: list[NodeSpec] = []
    if root is not None:
        _check_tree(root, everything, reader)
        _check_weights(
            root, total or 100.0, reader.tiers, reader, allow_unbalanced=allow_unbalanced
        )
        indicators = [spec for spec in _walk(root) if not spec.is_group]
    method = _method(data.get("method"), reader, reader.tiers, indicators)
    if reader.problems or root is None:
        raise _invalid(code, reader.problems)
    built = _build(root)
    assert isinstance(built, Group)
    return Framework(
        code=code or "",
        name_en=name_en,
        name_zh=name_zh,
        root=built,
        version=version,
        description_en=description_en,
        description_zh=description_zh,
        total=total if total is not None else 100.0,
        tiers=reader.tiers,
        method=method,
    )


def _invalid(code: str | None, problems: list[Problem]) -> InvalidInput:
    count = len(problems)
    shown = "; ".join(f"{p['where']}: {p['message']}" for p in problems[:3])
    more = f"; and {count - 3} more (see details)" if count > 3 else ""
    what = f"The framework {code}" if code else "The framework"
    noun = "problem" if count == 1 else "problems"
    return InvalidInput(f"{what} has {count} {noun}: {shown}{more}.", details=problems)


def load(text: str | bytes, *, allow_unbalanced: bool = False) -> Framework:
    """Parse YAML or JSON text into a framework (syntax errors name the line and column)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise InvalidInput(
                f"The framework is not UTF-8 text (byte {error.start}): save it as UTF-8."
            ) from None
    text = text.lstrip("\ufeff")
    data: Any
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInput(
                f"The framework is not valid JSON: {error.msg} at line {error.lineno}, column "
                f"{error.colno}."
            ) from None
    else:
        try:
            data = yaml.load(text, Loader=_FrameworkLoader)  # noqa: S506 (a safe loader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            problem = getattr(error, "problem", None) or "syntax error"
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise InvalidInput(f"The framework is not valid YAML: {problem}{where}.") from None
    if data is None:
        raise InvalidInput("The framework document is empty: give code, name and root:.")
    return parse(data, allow_unbalanced=allow_unbalanced)


class _FrameworkLoader(yaml.SafeLoader):
    """The safe loader without anchors and aliases: a framework has no use for them, and
    aliases nested in aliases can blow a small document up to billions of nodes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark
            raise InvalidInput(
                "anchors (&name) and aliases (*name) are not allowed in a framework document "
                f"(line {mark.line + 1}, column {mark.column + 1}): write the values out."
            )
        return super().compose_node(parent, index)


def _num(value: float) -> float | int:
    """37.0 → 37 for a tidy document (parse reads it back as 37.0)."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def _texts(en: str, zh: str) -> dict[str, str]:
    return {key: text for key, text in (("en", en), ("zh", zh)) if text}


def _dump_source(source: Source) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": source.kind.value}
    for key in ("metric", "dataset", "value_field", "unit_field", "year_field"):
        value = getattr(source, key)
        if value is not None:
            out[key] = value
    if source.filters:
        out["filters"] = copy.deepcopy(source.filters)
    return out


def _dump_node(node: Group | Indicator) -> dict[str, Any]:
    out: dict[str, Any] = {"code": node.code, "name": {"en": node.name_en, "zh": node.name_zh}}
    description = _texts(node.description_en, node.description_zh)
    if description:
        out["description"] = description
    if node.weight is not None:
        out["weight"] = _num(node.weight)
    if node.tier_weights:
        out["tier_weights"] = {tier: _num(w) for tier, w in node.tier_weights.items()}
    if isinstance(node, Group):
        out["children"] = [_dump_node(child) for child in node.children]
        return out
    if node.unit:
        out["unit"] = node.unit
    out["direction"] = node.direction.value
    if node.goalposts is not None:
        out["goalposts"] = [_num(node.goalposts[0]), _num(node.goalposts[1])]
    if node.target is not None:
        out["target"] = _num(node.target)
    if node.denominator is not None:
        out["denominator"] = {"by": node.denominator.by, "per": _num(node.denominator.per)}
    if node.source != Source():
        out["source"] = _dump_source(node.source)
    if node.source_header:
        out["source_header"] = node.source_header
    return out


def dump(framework: Framework) -> dict[str, Any]:
    """The framework as a nested document (plain, JSON-safe data); ``parse`` reads it back
    to an equal framework."""
    out: dict[str, Any] = {
        "code": framework.code,
        "name": {"en": framework.name_en, "zh": framework.name_zh},
    }
    if framework.version:
        out["version"] = framework.version
    description = _texts(framework.description_en, framework.description_zh)
    if description:
        out["description"] = description
    if framework.total != 100.0:
        out["total"] = _num(framework.total)
    if framework.tiers:
        out["tiers"] = list(framework.tiers)
    if framework.method:
        out["method"] = copy.deepcopy(framework.method)
    out["root"] = _dump_node(framework.root)
    return out


def dumps(framework: Framework, *, fmt: str = "yaml") -> str:
    """The framework as YAML (Chinese kept readable, keys in document order) or JSON text."""
    data = dump(framework)
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    text: str = yaml.dump(data, Dumper=_PlainDumper, allow_unicode=True, sort_keys=False, width=100)
    return text


class _PlainDumper(yaml.SafeDumper):
    """Writes a shared value out each time: the loader refuses anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True
