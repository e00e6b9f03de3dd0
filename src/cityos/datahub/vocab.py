"""Controlled vocabularies of the data hub: themes, licences, formats, frequencies.

Theme codes are those of the EU data-theme authority table, so that DCAT-AP catalogs and
CKAN groups speak the same language as other portals.
"""

from __future__ import annotations

from dataclasses import dataclass

from cityos.datahub.models import Frequency
from cityos.datahub.tableschema import FieldType, TableSchema

THEME_AUTHORITY = "http://publications.europa.eu/resource/authority/data-theme/"
FREQUENCY_AUTHORITY = "http://publications.europa.eu/resource/authority/frequency/"

# code → (zh, en)
THEMES: dict[str, tuple[str, str]] = {
    "AGRI": ("农业、渔业、林业和食品", "Agriculture, fisheries, forestry and food"),
    "ECON": ("经济和金融", "Economy and finance"),
    "EDUC": ("教育、文化和体育", "Education, culture and sport"),
    "ENER": ("能源", "Energy"),
    "ENVI": ("环境", "Environment"),
    "GOVE": ("政府和公共部门", "Government and public sector"),
    "HEAL": ("卫生健康", "Health"),
    "INTR": ("国际事务", "International issues"),
    "JUST": ("司法、法律体系和公共安全", "Justice, legal system and public safety"),
    "REGI": ("区域和城市", "Regions and cities"),
    "SOCI": ("人口和社会", "Population and society"),
    "TECH": ("科学和技术", "Science and technology"),
    "TRAN": ("交通运输", "Transport"),
}


def theme_uri(code: str) -> str:
    return THEME_AUTHORITY + code


# Frequency → the EU frequency authority code
FREQUENCY_CODES: dict[Frequency, str] = {
    Frequency.CONTINUOUS: "UPDATE_CONT",
    Frequency.DAILY: "DAILY",
    Frequency.WEEKLY: "WEEKLY",
    Frequency.MONTHLY: "MONTHLY",
    Frequency.QUARTERLY: "QUARTERLY",
    Frequency.ANNUAL: "ANNUAL",
    Frequency.IRREGULAR: "IRREG",
}

FREQUENCY_LABELS: dict[Frequency, tuple[str, str]] = {
    Frequency.CONTINUOUS: ("实时", "Continuous"),
    Frequency.DAILY: ("每日", "Daily"),
    Frequency.WEEKLY: ("每周", "Weekly"),
    Frequency.MONTHLY: ("每月", "Monthly"),
    Frequency.QUARTERLY: ("每季度", "Quarterly"),
    Frequency.ANNUAL: ("每年", "Annual"),
    Frequency.IRREGULAR: ("不定期", "Irregular"),
}


ACCESS_LABELS: dict[str, tuple[str, str]] = {
    "open": ("开放", "Open"),
    "shared": ("共享", "Shared"),
    "restricted": ("受限", "Restricted"),
}


def frequency_uri(frequency: Frequency) -> str:
    return FREQUENCY_AUTHORITY + FREQUENCY_CODES[frequency]


@dataclass(frozen=True, slots=True)
class Licence:
    title: str
    url: str
    open: bool  # an open licence (Open Definition conformant)


LICENCES: dict[str, Licence] = {
    "CC-BY-4.0": Licence(
        "Creative Commons Attribution 4.0", "https://creativecommons.org/licenses/by/4.0/", True
    ),
    "CC0-1.0": Licence(
        "Creative Commons CC0 1.0", "https://creativecommons.org/publicdomain/zero/1.0/", True
    ),
    "ODbL-1.0": Licence(
        "Open Data Commons Open Database License 1.0",
        "https://opendatacommons.org/licenses/odbl/1-0/",
        True,
    ),
    "ODC-BY-1.0": Licence(
        "Open Data Commons Attribution License 1.0",
        "https://opendatacommons.org/licenses/by/1-0/",
        True,
    ),
    "GOV-RESTRICTED": Licence(
        "Government internal use only", "https://cityos.example/licences/gov-restricted", False
    ),
}

# Export / resource format → IANA media type
MEDIA_TYPES: dict[str, str] = {
    "CSV": "text/csv",
    "TSV": "text/tab-separated-values",
    "JSON": "application/json",
    "NDJSON": "application/x-ndjson",
    "GEOJSON": "application/geo+json",
    "PARQUET": "application/vnd.apache.parquet",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "PDF": "application/pdf",
    "ZIP": "application/zip",
    "TXT": "text/plain",
    "PNG": "image/png",
    "JPEG": "image/jpeg",
}

# The table's download formats, in the order pages list them
TABLE_FORMATS: tuple[str, ...] = ("CSV", "JSON", "NDJSON", "GEOJSON", "PARQUET", "XLSX")

# Names a dataset may not take: they are paths of the API next to /api/data/{name}
RESERVED_NAMES = frozenset({"infer", "new", "elements", "requests", "metrics", "steward"})


def table_formats(schema: TableSchema | None) -> list[str]:
    """The download formats of a dataset's table (GeoJSON only with a geopoint field)."""
    if schema is None:
        return []
    geo = any(f.type is FieldType.GEOPOINT for f in schema.fields)
    return [fmt for fmt in TABLE_FORMATS if fmt != "GEOJSON" or geo]
