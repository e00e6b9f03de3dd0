"""JSON (an array of objects, or ``{"data": [...]}``), GeoJSON (a FeatureCollection) and
NDJSON (one object per line, streamed). Files here are already UTF-8.

Cells: strings as they are, numbers as written (``1.0`` → ``1``), booleans ``true`` /
``false``, nested objects and arrays as JSON text; ``null`` and absent keys are null.
GeoJSON: properties become columns; a Point geometry becomes ``geometry`` = ``"lon,lat"``,
other geometries their GeoJSON text. ``__row`` is the object's position (1-based); for
NDJSON the line number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from cityos.datahub.reader_base import (
    ReaderLimits,
    Source,
    SourceInfo,
    human_size,
    string_frame,
)
from cityos.datahub.sniff import decode_error
from cityos.errors import InvalidInput, PayloadTooLarge

WRAPPERS = ("data", "records", "rows", "items", "results")
_INTEGRAL = re.compile(r"(-?\d+)\.0+")
_KINDS = {
    str: "a string",
    int: "a number",
    float: "a number",
    Decimal: "a number",
    bool: "true/false",
    list: "an array",
    type(None): "null",
}


def _default(value: object) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(type(value).__name__)  # pragma: no cover - json only gives these types


def cell_text(value: object) -> str | None:
    """One JSON value as cell text (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = str(value)
        match = _INTEGRAL.fullmatch(text)
        return match.group(1) if match else text
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_default)


def _kind(value: object) -> str:
    return _KINDS.get(type(value), "not an object")


def _load(path: Path, *, limits: ReaderLimits, what: str) -> Any:
    size = path.stat().st_size
    if size > limits.json_max_bytes:
        raise PayloadTooLarge(
            f"{what} files are read whole and may be at most {human_size(limits.json_max_bytes)}"
            f" (this one is {human_size(size)}): upload NDJSON (one object per line), CSV or "
            "Parquet instead.",
            details={"bytes": size, "limit": limits.json_max_bytes},
        )
    try:
        with path.open(encoding="utf-8-sig") as handle:
            return json.load(handle, parse_float=Decimal)
    except UnicodeDecodeError as error:
        raise decode_error("utf-8", line=None, offset=error.start) from None
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"The file is not valid {what}: {error.msg} at line {error.lineno}, column "
            f"{error.colno}.",
            details={"line": error.lineno, "column": error.colno},
        ) from None


def _columns(objects: list[dict[str, Any]], *, limits: ReaderLimits, extra: str = "") -> list[str]:
    names: dict[str, None] = {}
    for item in objects:
        for key in item:
            names.setdefault(key)
    if extra:
        names.setdefault(extra)
    columns = list(names)
    if "" in names:
        raise InvalidInput(
            'An object has an empty key ("": …): every field needs a name.',
            details={"empty_key": True},
        )
    if len(columns) > limits.max_columns:
        raise InvalidInput(
            f"The objects have {len(columns)} different keys; at most {limits.max_columns} "
            "columns are accepted.",
            details={"columns": len(columns), "limit": limits.max_columns},
        )
    if not objects:
        raise InvalidInput("The file has no rows: the list of objects is empty.")
    return columns


class RowsSource(Source):
    """Rows already in memory (JSON, GeoJSON) as dicts of cell text."""

    def __init__(
        self,
        *,
        rows: list[dict[str, str | None]],
        info: SourceInfo,
        limits: ReaderLimits,
        stack: ExitStack,
    ) -> None:
        super().__init__(info=info, limits=limits, stack=stack)
        self._rows = rows

    def _frames(self, size: int) -> Iterator[pl.DataFrame]:
        columns = self.info.columns
        for start in range(0, len(self._rows), size):
            chunk = self._rows[start : start + size]
            data = {name: [row.get(name) for row in chunk] for name in columns}
            yield string_frame(columns, data, list(range(start + 1, start + len(chunk) + 1)))


def _objects(items: list[Any]) -> list[dict[str, Any]]:
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InvalidInput(
                f"Item {index} of the list is {_kind(item)}: every item must be an object "
                'with field names, e.g. [{"name": "…", "count": 3}].',
                details={"item": index},
            )
    return items


def open_json(path: Path, *, encoding: str, limits: ReaderLimits, stack: ExitStack) -> Source:
    document = _load(path, limits=limits, what="JSON")
    if isinstance(document, dict) and document.get("type") in ("FeatureCollection", "Feature"):
        return _geojson_source(document, encoding=encoding, limits=limits, stack=stack)
    items: Any = document
    if isinstance(document, dict):
        items = next(
            (document[key] for key in WRAPPERS if isinstance(document.get(key), list)), None
        )
    if not isinstance(items, list):
        raise InvalidInput(
            "Expected a JSON array of objects ([{...}, {...}]) or an object holding one under "
            f'"data" (also accepted: {", ".join(WRAPPERS[1:])}); this file holds '
            f"{_kind(document) if not isinstance(document, dict) else 'another object'}.",
        )
    objects = _objects(items)
    columns = _columns(objects, limits=limits)
    rows = [{key: cell_text(value) for key, value in item.items()} for item in objects]
    info = SourceInfo(
        format="json", encoding=encoding, delimiter=None, header=True, columns=columns
    )
    return RowsSource(rows=rows, info=info, limits=limits, stack=stack)


def open_geojson(path: Path, *, encoding: str, limits: ReaderLimits, stack: ExitStack) -> Source:
    document = _load(path, limits=limits, what="GeoJSON")
    return _geojson_source(document, encoding=encoding, limits=limits, stack=stack)


def geometry_text(geometry: Any) -> str | None:
    if geometry is None:
        return None
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        coordinates = geometry.get("coordinates")
        if isinstance(coordinates, list) and len(coordinates) >= 2:
            return f"{cell_text(coordinates[0])},{cell_text(coordinates[1])}"
    return cell_text(geometry)


def _geojson_source(
    document: Any, *, encoding: str, limits: ReaderLimits, stack: ExitStack
) -> Source:
    if isinstance(document, dict) and document.get("type") == "Feature":
        document = {"type": "FeatureCollection", "features": [document]}
    features = document.get("features") if isinstance(document, dict) else None
    if document.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise InvalidInput(
            'Expected a GeoJSON FeatureCollection ({"type": "FeatureCollection", '
            '"features": [...]}).'
        )
    properties: list[dict[str, Any]] = []
    for index, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise InvalidInput(
                f"Feature {index} is not a GeoJSON Feature object.", details={"feature": index}
            )
        values = feature.get("properties") or {}
        if not isinstance(values, dict):
            raise InvalidInput(
                f"Feature {index} has properties that are not an object.",
                details={"feature": index},
            )
        properties.append(values)
    geometry = "geometry"
    while any(geometry in values for values in properties):
        geometry = f"_{geometry}"
    columns = _columns(properties, limits=limits, extra=geometry)
    rows: list[dict[str, str | None]] = []
    for feature, values in zip(features, properties, strict=True):
        row = {key: cell_text(value) for key, value in values.items()}
        row[geometry] = geometry_text(feature.get("geometry"))
        rows.append(row)
    info = SourceInfo(
        format="geojson", encoding=encoding, delimiter=None, header=True, columns=columns
    )
    return RowsSource(rows=rows, info=info, limits=limits, stack=stack)


class NdjsonSource(Source):
    def __init__(
        self, *, path: Path, info: SourceInfo, limits: ReaderLimits, stack: ExitStack
    ) -> None:
        super().__init__(info=info, limits=limits, stack=stack)
        self._path = path

    def _frames(self, size: int) -> Iterator[pl.DataFrame]:
        columns = self.info.columns
        data: dict[str, list[str | None]] = {name: [] for name in columns}
        rows: list[int] = []
        for number, item in _lines(self._path):
            if not isinstance(item, dict):
                reason = item.message if isinstance(item, _Bad) else f"is {_kind(item)}"
                self.add_problem(
                    "invalid-json",
                    number,
                    f"line {number} {reason}: every line must be one JSON object",
                )
                continue
            for name in columns:
                data[name].append(cell_text(item.get(name)))
            rows.append(number)
            if len(rows) >= size:
                yield string_frame(columns, data, rows)
                data = {name: [] for name in columns}
                rows = []
        if rows:
            yield string_frame(columns, data, rows)


class _Bad:
    def __init__(self, message: str) -> None:
        self.message = message


def _lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value or :class:`_Bad`) for every non-blank line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if not line:
                continue
            try:
                yield number, json.loads(line, parse_float=Decimal)
            except UnicodeDecodeError:
                raise decode_error("utf-8", line=number, offset=None) from None
            except json.JSONDecodeError as error:
                yield number, _Bad(f"is not valid JSON ({error.msg}, column {error.colno})")


def open_ndjson(path: Path, *, encoding: str, limits: ReaderLimits, stack: ExitStack) -> Source:
    names: dict[str, None] = {}
    objects = 0
    for _number, item in _lines(path):  # a first pass for the keys: objects may be sparse
        if isinstance(item, dict):
            objects += 1
            for key in item:
                names.setdefault(key)
            if len(names) > limits.max_columns:
                break
    if not objects:
        raise InvalidInput("The file has no rows: expected one JSON object per line.")
    columns = _columns([dict.fromkeys(names)], limits=limits)
    info = SourceInfo(
        format="ndjson", encoding=encoding, delimiter=None, header=True, columns=columns
    )
    return NdjsonSource(path=path, info=info, limits=limits, stack=stack)
