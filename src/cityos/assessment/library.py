"""Stored frameworks: the built-ins, users' own, editing weights, YAML export.

A framework is stored as its document (``framework.dump_framework``), so what is stored is
exactly what the parser accepts: every save goes through ``parse_framework`` first and a
document the parser refuses is never written. Built-in frameworks are copied into the
database the first time frameworks are listed (:func:`sync_builtin_frameworks`); from then
on they are data like any other (their weights are editable) except that they cannot be
deleted.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityos.assessment.builtin import builtin_frameworks
from cityos.assessment.framework import (
    Framework,
    Group,
    Indicator,
    dump_framework,
    load_framework,
    parse_framework,
)
from cityos.assessment.models import AssessFramework
from cityos.audit.service import Actor, record
from cityos.errors import Conflict, InvalidInput, NotFound

SYSTEM = Actor.system("assessment")


def _summary(row: AssessFramework) -> dict[str, Any]:
    return {"code": row.code, "name_en": row.name_en, "version": row.version}


def _fill(row: AssessFramework, framework: Framework, actor: Actor) -> None:
    row.code = framework.code
    row.name_en = framework.name_en
    row.name_zh = framework.name_zh
    row.version = framework.version
    row.document = dump_framework(framework)
    row.updated_by = actor.label[:200]


def sync_builtin_frameworks(db_session: Session, *, actor: Actor = SYSTEM) -> list[str]:
    """Store every built-in framework that is not stored yet; return their codes.

    Stored built-ins are left alone (users may have edited their weights). Safe when two
    processes do it at once: a code stored meanwhile by the other one is skipped."""
    stored = set(db_session.scalars(select(AssessFramework.code)))
    added: list[str] = []
    for code, framework in builtin_frameworks().items():
        if code in stored:
            continue
        row = AssessFramework(builtin=True)
        _fill(row, framework, actor)
        try:
            with db_session.begin_nested():
                db_session.add(row)
                db_session.flush()
        except IntegrityError:
            continue
        record(
            db_session,
            actor=actor,
            action="assess.framework.builtin",
            entity_type="assess_framework",
            entity_id=code,
            summary=f"Stored the built-in framework {code} {framework.name_en}",
            after=_summary(row),
        )
        added.append(code)
    return added


def list_frameworks(db_session: Session) -> list[AssessFramework]:
    """Every stored framework (built-ins first, then by code); stores missing built-ins."""
    sync_builtin_frameworks(db_session)
    rows = list(db_session.scalars(select(AssessFramework)))
    rows.sort(key=lambda row: (not row.builtin, row.code))
    return rows


def get_framework_row(db_session: Session, *, code: str) -> AssessFramework:
    """The stored framework ``code``; NotFound listing the codes there are."""
    query = select(AssessFramework).where(AssessFramework.code == code)
    row = db_session.scalars(query).one_or_none()
    if row is None and code in builtin_frameworks():
        sync_builtin_frameworks(db_session)
        row = db_session.scalars(query).one_or_none()
    if row is None:
        known = ", ".join(r.code for r in list_frameworks(db_session)) or "none"
        raise NotFound(
            f"There is no framework with the code {code!r}; the frameworks are: {known}.",
            details={"known_frameworks": known.split(", ")},
        )
    return row


def get_framework(db_session: Session, *, code: str) -> Framework:
    """The stored framework ``code``, parsed."""
    return framework_of(get_framework_row(db_session, code=code))


def framework_of(row: AssessFramework) -> Framework:
    """A stored document, parsed. It was checked when saved; weight sums that miss are
    only stored when its method says ``weights.renormalise: true``."""
    return parse_framework(row.document, allow_unbalanced=True)


def renormalises(method: Any) -> bool:
    """Whether a framework's ``method`` (its document's or its own) asks for weights to be
    renormalised."""
    weights = method.get("weights") if isinstance(method, Mapping) else None
    return isinstance(weights, Mapping) and weights.get("renormalise") is True


def _existing(db_session: Session, code: str) -> AssessFramework | None:
    query = select(AssessFramework).where(AssessFramework.code == code)
    return db_session.scalars(query).one_or_none()


def save_framework(
    db_session: Session,
    *,
    document: Mapping[str, Any],
    actor: Actor,
    code: str | None = None,
    create: bool = False,
) -> AssessFramework:
    """Store a framework from its document (parsed and checked first).

    ``create=True`` refuses a code that is already stored (Conflict); otherwise the stored
    framework with that code is replaced. ``code``, when given (the address of a PUT), must
    be the document's code. Weight sums must fit unless the document's method says
    ``weights.renormalise: true``."""
    if not isinstance(document, Mapping):
        raise InvalidInput("A framework document must be a mapping (code, name, root: …).")
    framework = parse_framework(document, allow_unbalanced=renormalises(document.get("method")))
    if code is not None and framework.code != code:
        raise InvalidInput(
            f"The document's code {framework.code!r} is not {code!r}: save it under its own "
            "code, or change the code in the document."
        )
    sync_builtin_frameworks(db_session)
    row = _existing(db_session, framework.code)
    if row is not None and create:
        raise Conflict(
            f"A framework with the code {framework.code!r} exists already: choose another "
            f"code, or replace it with PUT /api/assess/frameworks/{framework.code}."
        )
    before = _summary(row) if row is not None else None
    if row is None:
        row = AssessFramework(builtin=False)
        db_session.add(row)
    _fill(row, framework, actor)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="assess.framework.create" if before is None else "assess.framework.update",
        entity_type="assess_framework",
        entity_id=row.code,
        summary=f"{row.code} {row.name_en}: {len(framework.indicators())} indicators",
        before=before,
        after=_summary(row),
    )
    return row


def delete_framework(db_session: Session, *, code: str, actor: Actor) -> None:
    """Delete a user's framework (built-ins cannot be deleted; stored runs stay)."""
    row = get_framework_row(db_session, code=code)
    if row.builtin:
        raise Conflict(
            f"{code} is a built-in framework and cannot be deleted; edit its weights, or save "
            "a copy under another code."
        )
    before = _summary(row)
    db_session.delete(row)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="assess.framework.delete",
        entity_type="assess_framework",
        entity_id=code,
        summary=f"Deleted the framework {code}",
        before=before,
    )


# --- weights -----------------------------------------------------------------------------


def _check_weights(framework: Framework, weights: Mapping[str, float | None]) -> None:
    codes = {node.code for _, node in framework.root.walk()}
    unknown = sorted(set(weights) - codes)
    if unknown:
        raise InvalidInput(
            f"{framework.code} has no node {', '.join(unknown)}: give weights of its groups "
            "and indicators by their codes.",
            details={"unknown": unknown},
        )
    if framework.root.code in weights:
        raise InvalidInput(
            f"{framework.root.code} is the index itself and has no weight; its children "
            f"sum to the framework's total ({framework.total:g})."
        )
    bad = [
        code
        for code, weight in weights.items()
        if weight is not None and (not math.isfinite(weight) or weight < 0)
    ]
    if bad:
        raise InvalidInput(
            f"Weights must be finite numbers >= 0 (or null for an equal share): fix "
            f"{', '.join(sorted(bad))}.",
            details={"invalid": sorted(bad)},
        )


def with_weights(framework: Framework, weights: Mapping[str, float | None]) -> Framework:
    """The framework with the weights of the named nodes replaced (``None``: equal share)."""

    def rebuild(node: Group | Indicator) -> Group | Indicator:
        weight = weights.get(node.code, node.weight)
        if isinstance(node, Indicator):
            return dataclasses.replace(node, weight=weight)
        children = tuple(rebuild(child) for child in node.children)
        return dataclasses.replace(node, weight=weight, children=children)

    root = rebuild(framework.root)
    assert isinstance(root, Group)
    return dataclasses.replace(framework, root=root)


def rescale_weights(framework: Framework) -> Framework:
    """Scale each group's children so that they sum to the group's weight (the root's to
    ``total``). Groups whose children mix given and omitted weights, or whose weight is
    omitted, keep their children's weights as they are (omitted means an equal share)."""

    def rebuild(node: Group | Indicator, weight: float | None) -> Group | Indicator:
        if isinstance(node, Indicator):
            return dataclasses.replace(node, weight=weight)
        given = [child.weight for child in node.children]
        factor = 1.0
        if weight is not None and given and all(w is not None for w in given):
            total = sum(w for w in given if w is not None)
            factor = weight / total if total > 0 else 1.0
        children = tuple(
            rebuild(child, None if child.weight is None else child.weight * factor)
            for child in node.children
        )
        return dataclasses.replace(node, weight=weight, children=children)

    root = rebuild(framework.root, framework.total)
    assert isinstance(root, Group)
    return dataclasses.replace(
        framework, root=dataclasses.replace(root, weight=framework.root.weight)
    )


def update_weights(
    db_session: Session,
    *,
    code: str,
    weights: Mapping[str, float | None],
    actor: Actor,
    renormalise: bool = False,
) -> AssessFramework:
    """Change the weights of some nodes of a stored framework.

    A change that breaks a group's sum is refused with the parser's message, unless
    ``renormalise``: then every group's children are scaled to fit (see
    :func:`rescale_weights`)."""
    row = get_framework_row(db_session, code=code)
    framework = framework_of(row)
    _check_weights(framework, weights)
    changed = with_weights(framework, weights)
    if renormalise:
        changed = rescale_weights(changed)
    # the parser's checks and messages
    checked = parse_framework(
        dump_framework(changed), allow_unbalanced=renormalises(row.document.get("method"))
    )
    before = {c: framework.node(c).weight for c in weights}
    _fill(row, checked, actor)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="assess.framework.weights",
        entity_type="assess_framework",
        entity_id=code,
        summary=f"Changed {len(weights)} weight(s) of {code}"
        + (" (renormalised)" if renormalise else ""),
        before=before,
        after={c: checked.node(c).weight for c in weights},
    )
    return row


# --- YAML --------------------------------------------------------------------------------


def framework_yaml(row: AssessFramework) -> str:
    """The stored document as YAML (Chinese kept readable, keys in document order)."""
    return yaml.safe_dump(row.document, allow_unicode=True, sort_keys=False, width=100)


def document_from_text(text: str | bytes, *, json_only: bool = False) -> dict[str, Any]:
    """A framework document from YAML or JSON text (``json_only``: JSON only).

    YAML syntax errors name the line and column; the document is checked when saved."""
    if json_only:
        try:
            data = json.loads(text or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidInput(f"The framework is not valid JSON: {error}.") from None
        if not isinstance(data, dict):
            raise InvalidInput("A framework document must be a JSON object (code, name, root: …).")
        return data
    return dump_framework(load_framework(text, allow_unbalanced=True))
