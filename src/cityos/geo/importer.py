"""Importing areas from a GeoJSON file (RFC 7946), all or nothing.

The file is checked as a whole (size, UTF-8, JSON, FeatureCollection/Feature), then every
feature; all the problems are collected and reported together (``Unprocessable`` with one
``{"index", "code", "reason"}`` per problem), and nothing is written unless every feature is
fine. Feature indexes count from 0, in file order.

Safe repair
-----------
An invalid polygon is repaired only when the repair is *safe*, meaning the two standard
repairs agree on what the polygon covers:

1. ``shapely.make_valid(g)`` (GEOS's "linework" method), keeping only its polygonal parts,
   and ``shapely.buffer(g, 0)`` are both non-empty Polygons/MultiPolygons; and
2. they cover the same ground: the area of their symmetric difference is less than 0.1 % of
   the larger of their two areas.

Then the ``make_valid`` result is imported and the repair is listed in
``ImportReport.repaired`` as ``(index, code, what was wrong and what was done)``. Typical safe
repairs: a ring that touches itself (a hole pinched to the shell), a zero-width spike.
Otherwise the feature is refused with GEOS's reason and where it happens
(``Self-intersection at longitude …, latitude …``): a bow-tie polygon, for example, is two
triangles to ``make_valid`` but one triangle (or nothing) to ``buffer(0)``, so no repair can
be trusted to say what was meant. An unclosed ring is closed and reported the same way.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.errors import InvalidInput, PayloadTooLarge
from cityos.geo.models import AreaLevel
from cityos.geo.service import problems_error
from cityos.geo.writes import (
    AreaInput,
    AreaProblem,
    coordinate_problem,
    prepare_areas,
    validity_reason,
    write_areas,
)

SAFE_REPAIR_TOLERANCE = 0.001  # symmetric difference / area, see the module docstring
_POLYGONAL = ("Polygon", "MultiPolygon")
_GEOMETRY_TYPES = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
)
_WGS84_NAMES = ("crs84", "4326", "wgs84", "wgs 84")


@dataclass(frozen=True, slots=True)
class ImportReport:
    created: int
    updated: int
    repaired: list[tuple[int, str, str]] = field(default_factory=list)


class _RefusedError(Exception):
    """A feature's geometry cannot be imported; the message is the reason."""


def _human_size(size: float) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):,.1f} MB"
    if size >= 1024:
        return f"{size / 1024:,.1f} KB"
    return f"{size:,.0f} bytes"


# --- the file ---------------------------------------------------------------------------


def check_size(size: int, max_bytes: int) -> None:
    """Refuse a file of ``size`` bytes over the upload limit (callers check before reading)."""
    if size > max_bytes:
        raise PayloadTooLarge(
            f"The file is {_human_size(size)}; the largest accepted upload is "
            f"{_human_size(max_bytes)}. Split the file, or raise the limit with the setting "
            "CITYOS_MAX_UPLOAD_MB.",
            details={"size_bytes": size, "max_bytes": max_bytes},
        )


def _decode(data: bytes, max_bytes: int) -> str:
    check_size(len(data), max_bytes)
    offset = 0
    if data.startswith(codecs.BOM_UTF8):
        offset = len(codecs.BOM_UTF8)
    try:
        return data[offset:].decode("utf-8")
    except UnicodeDecodeError as error:
        position = error.start + offset
        raise InvalidInput(
            f"The file is not UTF-8: the byte 0x{data[position]:02x} at byte offset "
            f"{position:,} is not valid UTF-8. GeoJSON must be UTF-8 (RFC 7946); re-save the "
            "file as UTF-8 (a file from a Chinese GIS is often GBK: convert it with "
            "`iconv -f GBK -t UTF-8`).",
            details={"byte_offset": position},
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _parse(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        hint = " (the file looks truncated)" if error.pos >= len(text.rstrip()) else ""
        raise InvalidInput(
            f"The file is not valid JSON: {error.msg} at line {error.lineno}, column "
            f"{error.colno}{hint}. Fix the JSON there (or export the file again).",
            details={"line": error.lineno, "column": error.colno},
        ) from None
    except ValueError as error:
        raise InvalidInput(
            f"The file is not valid JSON: {error}; use numbers for every coordinate."
        ) from None


def _features(document: Any) -> list[Any]:
    if not isinstance(document, dict):
        raise InvalidInput(
            "The file is JSON but not GeoJSON: expected an object with "
            '"type": "FeatureCollection" (or "Feature").'
        )
    kind = document.get("type")
    _check_crs(document)
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise InvalidInput('The FeatureCollection has no "features" list; add one.')
        if not features:
            raise InvalidInput("The FeatureCollection has no features; there is nothing to import.")
        return features
    if kind == "Feature":
        return [document]
    if kind in _GEOMETRY_TYPES:
        raise InvalidInput(
            f"The file is a bare {kind} geometry, not a Feature or FeatureCollection: wrap "
            "each area in a Feature whose properties carry its code and name."
        )
    raise InvalidInput(
        f'The file\'s "type" is {kind!r}; a GeoJSON import needs a "FeatureCollection" '
        '(or a single "Feature").'
    )


def _check_crs(document: dict[str, Any]) -> None:
    crs = document.get("crs")
    if not isinstance(crs, dict):
        return
    name = str((crs.get("properties") or {}).get("name", ""))
    if name and not any(marker in name.lower() for marker in _WGS84_NAMES):
        raise InvalidInput(
            f"The file declares the coordinate reference system {name!r}; GeoJSON (RFC 7946) "
            "must be WGS84 longitude/latitude. Reproject it to EPSG:4326 and export again."
        )


# --- one feature ------------------------------------------------------------------------


def _ring(coordinates: Any, notes: list[str]) -> Any:
    try:
        ring = np.asarray(coordinates, dtype=np.float64)
    except (TypeError, ValueError):
        raise _RefusedError(
            "has malformed coordinates; a ring is a list of [longitude, latitude] positions"
        ) from None
    if ring.ndim != 2 or ring.shape[1] < 2 or not ring.shape[0]:
        raise _RefusedError(
            "has malformed coordinates; a ring is a list of [longitude, latitude] positions"
        )
    ring = ring[:, :2]
    problem = coordinate_problem(ring[:, 0], ring[:, 1])
    if problem:
        raise _RefusedError(problem)
    if not np.array_equal(ring[0], ring[-1]):
        ring = np.vstack([ring, ring[:1]])
        if "closed an unclosed ring" not in notes:
            notes.append("closed an unclosed ring")
    if ring.shape[0] < 4:
        raise _RefusedError(
            "has a ring with fewer than 4 positions; a polygon ring needs at least 4"
        )
    return ring


def _polygon(rings: Any, notes: list[str]) -> Any:
    if not isinstance(rings, list) or not rings:
        raise _RefusedError("has malformed coordinates; a Polygon is a list of rings")
    shell, *holes = (_ring(ring, notes) for ring in rings)
    return shapely.Polygon(shell, holes)


def _geometry(value: Any, notes: list[str]) -> Any:
    if value is None:
        raise _RefusedError('has no geometry ("geometry": null); give the area\'s outline')
    if not isinstance(value, dict) or "type" not in value:
        raise _RefusedError('has a malformed geometry; it must be an object with "type"')
    kind = value["type"]
    if kind not in _POLYGONAL:
        article = "an" if str(kind)[:1] in "AEIOU" else "a"
        raise _RefusedError(
            f"is {article} {kind}; only Polygon and MultiPolygon areas can be imported"
        )
    coordinates = value.get("coordinates")
    if kind == "Polygon":
        return _polygon(coordinates, notes)
    if not isinstance(coordinates, list) or not coordinates:
        raise _RefusedError("has malformed coordinates; a MultiPolygon is a list of polygons")
    return shapely.MultiPolygon([_polygon(polygon, notes) for polygon in coordinates])


def _polygonal_part(geometry: Any) -> Any:
    if geometry.geom_type in _POLYGONAL:
        return geometry
    parts = [part for part in shapely.get_parts(geometry) if part.geom_type in _POLYGONAL]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(np.array(parts, dtype=object))


def _repair(geometry: Any, notes: list[str]) -> Any:
    """The geometry, safely repaired if it was invalid (see the module docstring)."""
    if shapely.is_valid(geometry):
        return geometry
    reason = validity_reason(geometry)
    repaired = _polygonal_part(shapely.make_valid(geometry))
    buffered = shapely.buffer(geometry, 0)
    safe = False
    if (
        not repaired.is_empty
        and not buffered.is_empty
        and buffered.geom_type in _POLYGONAL
        and repaired.geom_type in _POLYGONAL
    ):
        larger = max(repaired.area, buffered.area)
        difference = shapely.symmetric_difference(repaired, buffered).area
        safe = larger > 0 and difference < SAFE_REPAIR_TOLERANCE * larger
    if not safe:
        raise _RefusedError(
            f"is not a valid polygon ({reason}) and cannot be repaired safely; fix the "
            "outline there (e.g. a ring crossing itself must be split into separate "
            "polygons) and import again"
        )
    change = abs(repaired.area - geometry.area) / geometry.area if geometry.area else 0.0
    notes.append(
        f"repaired an invalid polygon ({reason}) with make_valid; buffer(0) agrees "
        f"(area changed by {change:.2%})"
    )
    return repaired


def _text_property(properties: dict[str, Any], name: str) -> str | None:
    value = properties.get(name)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _property_problem(properties: dict[str, Any], name: str, holds: str) -> str:
    if name not in properties:
        names = ", ".join(sorted(properties)) or "none"
        return (
            f"has no {name!r} property; the feature's properties are: {names}. Pick the "
            f"property holding the area {holds}."
        )
    return (
        f"has an empty or unusable {name!r} property ({properties[name]!r}); area {holds} "
        "must be non-empty text or whole numbers"
    )


def _check_feature(
    feature: Any,
    *,
    code_property: str,
    name_property: str,
    name_en_property: str | None,
) -> tuple[str | None, str | None, str | None, Any, dict[str, Any], list[str], list[str]]:
    """code, name, name_en, geometry, properties, problems, repair notes of one feature."""
    problems: list[str] = []
    notes: list[str] = []
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return None, None, None, None, {}, ['is not a GeoJSON Feature ("type": "Feature")'], []
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        properties = {}
        problems.append('has "properties" that is not an object')
    code = _text_property(properties, code_property)
    if code is None:
        problems.append(_property_problem(properties, code_property, "codes"))
    name = _text_property(properties, name_property)
    if name is None:
        problems.append(_property_problem(properties, name_property, "names"))
    name_en = _text_property(properties, name_en_property) if name_en_property else None
    geometry = None
    try:
        geometry = _repair(_geometry(feature.get("geometry"), notes), notes)
    except _RefusedError as refused:
        problems.append(str(refused))
    return code, name, name_en, geometry, properties, problems, notes


# --- the import -------------------------------------------------------------------------


def import_geojson(
    db_session: Session,
    *,
    data: bytes,
    level: AreaLevel,
    code_property: str,
    name_property: str,
    name_en_property: str | None = None,
    max_bytes: int,
    actor: Actor,
) -> ImportReport:
    """Import the areas of one level from GeoJSON bytes; all or nothing.

    Existing areas with the same code are updated; parents are found from the geometry (the
    area of the parent level that overlaps the most). Raises PayloadTooLarge, InvalidInput
    (the file as a whole) or Unprocessable (feature problems, every one in ``details``).
    """
    level = AreaLevel(level)
    features = _features(_parse(_decode(data, max_bytes)))
    problems: list[AreaProblem] = []
    inputs: list[AreaInput] = []
    input_feature: list[int] = []
    repaired: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    for index, feature in enumerate(features):
        code, name, name_en, geometry, properties, reasons, notes = _check_feature(
            feature,
            code_property=code_property,
            name_property=name_property,
            name_en_property=name_en_property,
        )
        if code is not None:
            if code in seen:
                reasons.append(
                    f"repeats the code {code!r} of feature {seen[code]}; codes must be unique "
                    "within the file"
                )
            else:
                seen[code] = index
        problems.extend(AreaProblem(index, code, reason) for reason in reasons)
        if reasons or code is None or name is None:
            continue
        repaired.extend((index, code, note) for note in notes)
        inputs.append(
            AreaInput(
                code=code,
                name_zh=name,
                name_en=name_en or name,
                level=level,
                geometry=geometry,
                properties=properties,
            )
        )
        input_feature.append(index)

    prepared, later = prepare_areas(db_session, inputs) if inputs else (None, [])
    problems.extend(
        AreaProblem(input_feature[problem.index], problem.code, problem.reason) for problem in later
    )
    if problems or prepared is None:
        problems.sort(key=lambda problem: problem.index)
        raise problems_error(problems, total=len(features), noun="feature")

    report = write_areas(db_session, prepared)
    record(
        db_session,
        actor=actor,
        action="geo.import",
        entity_type="geo_area",
        entity_id=level.value,
        summary=f"Imported {len(features):,} {level.value} areas from GeoJSON: "
        f"{report.created:,} created, {report.updated:,} updated, "
        f"{len({index for index, _, _ in repaired}):,} repaired",
        after={
            "level": level.value,
            "features": len(features),
            "created": report.created,
            "updated": report.updated,
            "repaired": [{"index": i, "code": c, "what": w} for i, c, w in repaired][:100],
        },
    )
    return ImportReport(created=report.created, updated=report.updated, repaired=repaired)
