"""SensorThings resource paths: ``Things``, ``Things(1)``, ``Things(1)/Datastreams``,
``Datastreams(1)/Thing/name``, ``…/name/$value``, ``…/$ref`` and ``…/$count``.

:func:`parse_path` turns the part after ``/sta/v1.1/`` into a :class:`ResourcePath` (the
steps from an entity set through navigation properties, then what is asked of the last
one) or raises :class:`~cityos.errors.NotFound` naming the segment that does not exist.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass

from sqlalchemy import BigInteger

from cityos.errors import InvalidInput, NotFound
from cityos.sensing.sta.entities import BY_SET, EntityType, Nav, entity

_SEGMENT = re.compile(r"^([A-Za-z][A-Za-z0-9]*)(?:\((.*)\))?$")


@dataclass(frozen=True, slots=True)
class Step:
    """One segment: an entity set (``nav`` None) or a navigation property, maybe an id."""

    segment: str  # as written, for messages
    entity: EntityType  # the type the step yields
    nav: Nav | None
    id: int | None

    @property
    def single(self) -> bool:
        """True when the step names one entity (an id, or a to-one navigation)."""
        return self.id is not None or (self.nav is not None and not self.nav.many)


@dataclass(frozen=True, slots=True)
class ResourcePath:
    steps: tuple[Step, ...]
    property: str | None = None  # a wire property of the last step's entity
    value: bool = False  # ``/$value``: the property's raw value
    ref: bool = False  # ``/$ref``: self links only
    count: bool = False  # ``/$count``: the number of entities, as plain text

    @builtins.property
    def target(self) -> EntityType:
        return self.steps[-1].entity

    @builtins.property
    def single(self) -> bool:
        return self.steps[-1].single

    def text(self) -> str:
        """The path as written (for messages and links)."""
        parts = [step.segment for step in self.steps]
        if self.property:
            parts.append(self.property)
        if self.value:
            parts.append("$value")
        if self.ref:
            parts.append("$ref")
        if self.count:
            parts.append("$count")
        return "/".join(parts)


def max_id(entity_type: EntityType) -> int:
    """The largest id ``entity_type``'s table can hold (32- or 64-bit on PostgreSQL)."""
    id_type = entity_type.model.__table__.c.id.type
    return 2**63 - 1 if isinstance(id_type, BigInteger) else 2**31 - 1


def _parse_id(segment: str, raw: str, target: EntityType) -> int:
    text = raw.strip()
    if re.fullmatch(r"[0-9]+", text):
        value = int(text)
        if value > max_id(target):  # cannot exist; the database would refuse the number
            raise NotFound(f"'{segment}': there is no such {target.name}.")
        return value
    raise NotFound(f"'{segment}': no such entity; ids here are whole numbers, e.g. Things(1).")


def _step(segment: str, source: EntityType | None) -> Step:
    match = _SEGMENT.match(segment)
    name, raw_id = (match.group(1), match.group(2)) if match else (segment, None)
    if source is None:
        target = BY_SET.get(name) if match else None
        if target is None:
            sets = ", ".join(sorted(BY_SET))
            raise NotFound(f"'{segment}' is not an entity set; the sets are: {sets}.")
        entity_id = _parse_id(segment, raw_id, target) if raw_id is not None else None
        return Step(segment, target, None, entity_id)
    nav = source.nav(name) if match else None
    if nav is None:
        raise NotFound(_unknown_segment(segment, source))
    if raw_id is not None and not nav.many:
        raise InvalidInput(
            f"'{segment}': {source.name}/{nav.name} is a single entity; drop the id in brackets."
        )
    target = entity(nav.target)
    entity_id = _parse_id(segment, raw_id, target) if raw_id is not None else None
    return Step(segment, target, nav, entity_id)


def _unknown_segment(segment: str, source: EntityType) -> str:
    navs = ", ".join(source.navs)
    props = ", ".join(source.props)
    return (
        f"'{segment}' is neither a navigation property ({navs}) nor a property ({props}) "
        f"of {source.name}."
    )


def parse_path(path: str) -> ResourcePath:
    """The resource path ``path`` (relative to the service root, no query string)."""
    segments = list(path.strip("/").split("/"))
    if not segments or segments == [""]:
        raise NotFound("The path is empty: name an entity set, e.g. Things.")
    if any(part == "" for part in segments):
        raise NotFound(f"'{path}': empty path segment (a doubled '/').")
    steps = [_step(segments[0], None)]
    index = 1
    while index < len(segments):
        segment = segments[index]
        last = steps[-1]
        if segment == "$ref":
            _expect_end(segments, index, "$ref")
            return ResourcePath(tuple(steps), ref=True)
        if segment == "$count":
            if last.single:
                raise InvalidInput(f"'{segment}' counts a collection; '{last.segment}' is one.")
            _expect_end(segments, index, "$count")
            return ResourcePath(tuple(steps), count=True)
        if not last.single:
            raise InvalidInput(
                f"'{last.segment}' is a collection: pick one entity by id, e.g. "
                f"{last.segment}(1)/{segment}."
            )
        if segment in last.entity.props:
            return _property_path(tuple(steps), segments, index)
        steps.append(_step(segment, last.entity))
        index += 1
    return ResourcePath(tuple(steps))


def _property_path(steps: tuple[Step, ...], segments: list[str], index: int) -> ResourcePath:
    name = segments[index]
    rest = segments[index + 1 :]
    if not rest:
        return ResourcePath(steps, property=name)
    if rest == ["$value"]:
        return ResourcePath(steps, property=name, value=True)
    raise NotFound(
        f"'{'/'.join(rest)}' after the property '{name}': only '$value' may follow a property."
    )


def _expect_end(segments: list[str], index: int, what: str) -> None:
    if index != len(segments) - 1:
        raise NotFound(f"'{what}' must end the path; remove '{'/'.join(segments[index + 1 :])}'.")
