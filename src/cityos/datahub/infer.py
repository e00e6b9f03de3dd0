"""Guessing a Table Schema from a sample of a new upload, for the steward to confirm.

:func:`infer_schema` looks at a sample (every column text, as the readers give it) with
polars expressions only: types (integer, number, boolean, date, datetime, year, geopoint,
else string), likely data elements by content (valid unified social credit codes, identity
numbers, mobile numbers, area codes of the city map) and by header (区县代码, district, …),
missing-value markers and a primary key. It returns a descriptor that
:func:`cityos.datahub.schema_parse.parse_schema` accepts and notes explaining each guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from cityos.datahub import checks
from cityos.datahub.models import DataElement
from cityos.datahub.tableschema import FieldType

ROW_COLUMN = "__row"
MISSING_MARKERS = ("NA", "N/A", "-", "null")
BOOLEAN_WORDS = ("true", "false", "yes", "no")
MOBILE_PATTERN = r"^1[3-9]\d{9}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
INTEGER_PATTERN = r"^[+-]?\d+$"
NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
GEOPOINT_PATTERN = r"^\s*[+-]?\d+(\.\d+)?\s*,\s*[+-]?\d+(\.\d+)?\s*$"
ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([zZ]|[+-]\d{2}(:?\d{2})?)?$"
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")
DATETIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y年%m月%d日 %H:%M:%S")

# Header names (normalised: lower case, no spaces, _ - or brackets) → data element.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "district_code": (
        "区县代码",
        "区县编码",
        "行政区划代码",
        "区划代码",
        "district",
        "districtcode",
    ),
    "grid_code": ("网格编码", "网格代码", "网格号", "grid", "gridcode", "gridid"),
    "uscc": ("统一社会信用代码", "社会信用代码", "信用代码", "uscc", "creditcode"),
    "org_name": ("单位名称", "企业名称", "机构名称", "组织名称", "orgname", "companyname"),
    "mobile_cn": ("手机号码", "手机号", "手机", "移动电话", "mobile", "cellphone", "mobilephone"),
    "phone": ("联系电话", "电话号码", "电话", "phone", "telephone", "tel"),
    "id_card_cn": ("公民身份号码", "身份证号码", "身份证号", "身份证", "idcard", "idnumber"),
    "person_name": ("姓名", "联系人", "法定代表人", "personname", "fullname", "contactname"),
    "address": ("地址", "详细地址", "住址", "address", "addr"),
    "geopoint": ("坐标", "经纬度", "位置", "geopoint", "location", "coordinates", "geometry"),
    "postal_code": ("邮政编码", "邮编", "postalcode", "postcode", "zipcode", "zip"),
    "email": ("电子邮箱", "电子邮件", "邮箱", "email", "e-mail", "mail"),
    "date": ("日期", "date"),
    "datetime": ("日期时间", "时间", "datetime", "timestamp"),
    "year": ("年份", "年度", "year"),
    "amount_cny": ("金额（元）", "金额", "amount", "amountcny"),
    "population_count": ("人口数", "人口", "population"),
    "percentage": ("百分比", "比例", "percentage", "percent", "pct"),
    "station_code": ("站点编码", "站点代码", "站点编号", "stationcode", "stationid"),
    "plate_number_cn": ("车牌号码", "车牌号", "号牌号码", "platenumber", "licenseplate", "plate"),
}
YEAR_HINTS = ("year", "年份", "年度", "年")
CODE_HINTS = ("code", "代码", "编码", "号码", "电话", "phone", "tel", "zip", "邮编")
DATE_HINTS = ("date", "日期", "time", "时间")
KEY_HINTS = ("编号", "编码", "代码", "序号", "code")


@dataclass(frozen=True, slots=True)
class InferResult:
    descriptor: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def normalise(name: str) -> str:
    return re.sub(r"[\s_\-()（）]+", "", name.strip().lower())


def _all(values: pl.Series, condition: pl.Expr) -> bool:
    """Whether ``condition`` (on ``pl.col("v")``) holds for every value of ``values``."""
    return bool(values.to_frame("v").select(condition.fill_null(False).all()).item())


def _matches(values: pl.Series, pattern: str) -> bool:
    return _all(values, pl.col("v").str.contains(pattern))


def _first_parsing(values: pl.Series, formats: tuple[str, ...], kind: FieldType) -> str | None:
    for fmt in formats:
        text = values.to_frame("v").get_column("v")
        if kind is FieldType.DATE:
            parsed = text.str.to_date(fmt, strict=False)
        else:
            parsed = text.str.to_datetime(fmt, strict=False)
        if parsed.null_count() == 0:
            return fmt
    return None


def detect_type(values: pl.Series, name: str) -> tuple[FieldType, str, str]:
    """The type of the non-missing ``values`` (text): (type, format, why)."""
    key = normalise(name)
    v = pl.col("v")
    if _all(values, v.str.to_lowercase().is_in(BOOLEAN_WORDS)):
        return FieldType.BOOLEAN, "default", "every value is true/false or yes/no"
    date_named = any(hint in key for hint in DATE_HINTS)
    yyyymmdd = date_named and _matches(values, r"^\d{8}$")
    if yyyymmdd and _first_parsing(values, ("%Y%m%d",), FieldType.DATE):
        return FieldType.DATE, "%Y%m%d", "dates written YYYYMMDD"
    if _matches(values, INTEGER_PATTERN) and _all(
        values, v.cast(pl.Int64, strict=False).is_not_null()
    ):
        if any(hint in key for hint in CODE_HINTS) or _matches(values, r"^[+-]?0\d"):
            return (
                FieldType.STRING,
                "default",
                "digits, but a code (or leading zeros): kept as text",
            )
        if _all(values, v.str.len_chars() >= 16):
            return FieldType.STRING, "default", "long digit strings (identifiers): kept as text"
        if any(hint in key for hint in YEAR_HINTS) and _matches(values, r"^[12]\d{3}$"):
            return FieldType.YEAR, "default", "four-digit years"
        return FieldType.INTEGER, "default", "every value is a whole number"
    if _matches(values, NUMBER_PATTERN):
        return FieldType.NUMBER, "default", "every value is a number"
    fmt = _first_parsing(values, DATE_FORMATS, FieldType.DATE)
    if fmt is not None:
        shown = "ISO dates" if fmt == "%Y-%m-%d" else f"dates written {fmt}"
        return FieldType.DATE, "default" if fmt == "%Y-%m-%d" else fmt, shown
    if _matches(values, ISO_DATETIME):
        return FieldType.DATETIME, "default", "ISO 8601 dates and times"
    fmt = _first_parsing(values, DATETIME_FORMATS, FieldType.DATETIME)
    if fmt is not None:
        return FieldType.DATETIME, fmt, f"dates and times written {fmt}"
    if _matches(values, GEOPOINT_PATTERN):
        parts = v.str.split(",")
        lon = parts.list.get(0).str.strip_chars().cast(pl.Float64, strict=False)
        lat = parts.list.get(1).str.strip_chars().cast(pl.Float64, strict=False)
        if _all(values, lon.is_between(-180, 180) & lat.is_between(-90, 90)):
            return FieldType.GEOPOINT, "default", '"longitude,latitude" pairs'
    return FieldType.STRING, "default", "text"


# --- data elements ----------------------------------------------------------------------


def _by_content(
    values: pl.Series, name: str, *, elements: Mapping[str, DataElement], area_codes: frozenset[str]
) -> tuple[str, str] | None:
    """(element code, why) when the values themselves say which element the column is."""
    v = pl.col("v")
    candidates: list[tuple[str, pl.Expr, str]] = [
        ("uscc", checks.uscc_valid(v), "a valid unified social credit code"),
        ("id_card_cn", checks.id_card_valid(v), "a valid citizen identity number"),
        ("mobile_cn", v.str.contains(MOBILE_PATTERN), "a mainland mobile number"),
    ]
    if area_codes:
        grid = _by_name(name, elements) == "grid_code"
        code = "grid_code" if grid else "district_code"
        codes = pl.Series(sorted(area_codes), dtype=pl.String)
        candidates.append((code, v.is_in(codes.implode()), "an area code of the city map"))
    candidates.append(("email", v.str.contains(EMAIL_PATTERN), "an email address"))
    for code, condition, what in candidates:
        if code in elements and _all(values, condition):
            return code, f"every value ({len(values)}) is {what}"
    return None


def _by_name(name: str, elements: Mapping[str, DataElement]) -> str | None:
    """The element a header names: exact synonym, else the longest synonym it contains."""
    key = normalise(name)
    if not key:
        return None
    table: dict[str, set[str]] = {
        code: {normalise(s) for s in words} for code, words in SYNONYMS.items()
    }
    for code, element in elements.items():
        table.setdefault(code, set()).update(
            normalise(text) for text in (code, element.name_zh, element.name_en) if text
        )
    best: tuple[int, str] | None = None
    for code, words in table.items():
        if code not in elements:
            continue
        if key in words:
            return code
        for word in words:
            long_enough = len(word) >= (4 if word.isascii() else 2)
            if long_enough and word in key and (best is None or len(word) > best[0]):
                best = (len(word), code)
    return best[1] if best else None


def _fits(
    values: pl.Series,
    element: DataElement,
    detected: FieldType,
    *,
    area_codes: frozenset[str],
) -> str | None:
    """Why ``values`` can't be of ``element``, or None when they fit."""
    kind = element.type
    compatible = {kind} | ({"integer"} if kind == "number" else set())
    if kind != "string" and str(detected) not in compatible:
        return f"the values look like {detected}, the element is {kind}"
    constraints = element.constraints or {}
    v = pl.col("v")
    pattern = constraints.get("pattern")
    if pattern and not _matches(values, f"^(?:{pattern})$"):
        return f"some values don't match the element's pattern {pattern}"
    check = constraints.get("check")
    if check == "uscc" and not _all(values, checks.uscc_valid(v)):
        return "some values are not valid unified social credit codes"
    if check == "id_card_cn" and not _all(values, checks.id_card_valid(v)):
        return "some values are not valid citizen identity numbers"
    areas = pl.Series(sorted(area_codes), dtype=pl.String)
    if check == "area_code" and area_codes and not _all(values, v.is_in(areas.implode())):
        return "some values are not area codes of the city map"
    if kind in ("number", "integer", "year"):
        number = v.cast(pl.Float64, strict=False)
        low, high = constraints.get("minimum"), constraints.get("maximum")
        if low is not None and not _all(values, number >= low):
            return f"some values are below the element's minimum {low}"
        if high is not None and not _all(values, number <= high):
            return f"some values are above the element's maximum {high}"
    return None


# --- the schema -----------------------------------------------------------------------------


def _missing_markers(frame: pl.DataFrame, columns: list[str]) -> list[str]:
    if not columns:
        return []
    found = frame.select(
        pl.any_horizontal([pl.col(c) == marker for c in columns]).any().alias(marker)
        for marker in MISSING_MARKERS
    ).row(0, named=True)
    return [marker for marker in MISSING_MARKERS if found[marker]]


def _looks_like_key(name: str) -> bool:
    key = normalise(name)
    ascii_key = re.sub(r"[^a-z0-9]", "", key)
    return (
        ascii_key in ("id", "no", "code") or key.endswith("id") or any(h in key for h in KEY_HINTS)
    )


def infer_schema(
    frame: pl.DataFrame,
    *,
    elements: Mapping[str, DataElement],
    area_codes: frozenset[str] = frozenset(),
) -> InferResult:
    """A suggested schema for a sample of String columns (``__row`` is ignored)."""
    columns = [c for c in frame.columns if c != ROW_COLUMN]
    text = frame.select(pl.col(c).cast(pl.String) for c in columns)
    markers = _missing_markers(text, columns)
    missing = ["", *markers]
    notes: list[str] = []
    if markers:
        notes.append(f"{', '.join(repr(m) for m in markers)} treated as missing values")
    fields: list[dict[str, Any]] = []
    primary_key: str | None = None
    for name in columns:
        column = text.get_column(name)
        present = column.filter(column.is_not_null() & ~column.is_in(missing))
        descriptor, note = _infer_field(name, present, elements=elements, area_codes=area_codes)
        fields.append(descriptor)
        notes.append(f"{name}: {note}")
        complete = len(present) == len(column) and len(column) > 0
        if (
            primary_key is None
            and complete
            and descriptor["type"] in ("string", "integer")
            and _looks_like_key(name)
            and present.n_unique() == len(present)
        ):
            primary_key = name
    out: dict[str, Any] = {"fields": fields}
    if primary_key is not None:
        out["primaryKey"] = [primary_key]
        notes.append(f"{primary_key}: unique and never empty in the sample → primary key")
    if markers:
        out["missingValues"] = missing
    return InferResult(descriptor=out, notes=notes)


def _infer_field(
    name: str,
    values: pl.Series,
    *,
    elements: Mapping[str, DataElement],
    area_codes: frozenset[str],
) -> tuple[dict[str, Any], str]:
    if len(values) == 0:
        return {"name": name, "type": "string"}, "no values in the sample → string"
    detected, fmt, why = detect_type(values, name)
    found = _by_content(values, name, elements=elements, area_codes=area_codes)
    if found is None:
        code = _by_name(name, elements)
        if code is not None:
            reason = _fits(values, elements[code], detected, area_codes=area_codes)
            if reason is None:
                found = (code, "named like it and the values fit")
            else:
                why += f" (named like the element {code}, but {reason})"
    if found is not None:
        code, reason = found
        element = elements[code]
        out: dict[str, Any] = {"name": name, "type": element.type, "element": code}
        temporal = element.type in ("date", "datetime") and not element.format
        if temporal and element.type == str(detected) and fmt != "default":
            out["format"] = fmt
        return out, f"{reason} → element {code} ({element.name_en})"
    out = {"name": name, "type": str(detected)}
    if fmt != "default":
        out["format"] = fmt
    return out, f"{why} → {detected}"
