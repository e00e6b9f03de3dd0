"""The demo data hub's datasets, read from the packaged ``datahub_datasets.yaml``.

The YAML file holds each dataset's metadata and its Table Schema (41 invented datasets of
19 departments of 明湖市), in load order: a dataset that another one references
(``foreignKeys``) comes first. The rows come from :mod:`cityos.demo.datahub_rows` and
:mod:`cityos.demo.datahub_series`; the value lists below are shared by both sides.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from cityos.datahub.models import Access, Frequency

DATASETS_FILE = "datahub_datasets.yaml"
DEMO_NOTE_ZH = "本数据为 CityOS 演示生成的虚构数据，不代表任何真实情况。"
DEMO_NOTE_EN = "Generated for the CityOS demo: invented data, not real."
BIG = "air-quality-hourly"  # the dataset with ``big_rows`` rows
STALE = "noise-monitoring-monthly"  # deliberately not updated for months (see datahub.py)
STALE_DAYS = 150
HISTORY = "building-inspections"  # has a rejected and a partial load besides its first load

DEPARTMENT_CODES = (
    "GOV",
    "OPS",
    "DATA",
    "CMB",
    "SAN",
    "LIGHT",
    "GRID",
    "TRANS",
    "WATER",
    "ENV",
    "HOUSING",
    "PARKS",
    "PSB",
    "FIRE",
    "HEALTH",
    "EDU",
    "CIVIL",
    "MARKET",
    "EMERG",
    "PLAN",
)
YEARS = tuple(range(2016, 2026))  # annual statistics: fixed years, so foreign keys hold
WASTE_STREAMS = ("其他垃圾", "厨余垃圾", "可回收物", "有害垃圾")
HOTLINE_TOPICS = ("市容环境", "交通出行", "噪声扰民", "供水供电", "物业管理", "其他")
FIRE_CAUSES = ("电气故障", "用火不慎", "吸烟", "其他")
LAND_USES = ("住宅用地", "商服用地", "工业用地", "公共管理与公共服务用地")
WATER_GRADES = ("I", "II", "III", "IV", "V", "劣V")
INDUSTRIES = (
    "建筑业",
    "制造业",
    "批发和零售业",
    "住宿和餐饮业",
    "信息技术服务业",
    "化工",
    "交通运输业",
)


@dataclass(frozen=True)
class Spec:
    """One demo dataset: its metadata and Table Schema descriptor."""

    name: str
    department: str
    title_zh: str
    title_en: str
    about_zh: str
    about_en: str
    themes: tuple[str, ...]
    keywords: tuple[str, ...]
    frequency: Frequency
    access: Access
    licence: str
    schema: dict[str, Any]
    time_field: str | None = None  # the field whose range is the temporal coverage

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> Spec:
        return cls(
            name=str(raw["name"]),
            department=str(raw["department"]),
            title_zh=str(raw["title_zh"]),
            title_en=str(raw["title_en"]),
            about_zh=str(raw["about_zh"]),
            about_en=str(raw["about_en"]),
            themes=tuple(str(t) for t in raw["themes"]),
            keywords=tuple(str(k) for k in raw["keywords"]),
            frequency=Frequency(raw["frequency"]),
            access=Access(raw["access"]),
            licence=str(raw["licence"]),
            schema=dict(raw["schema"]),
            time_field=raw.get("time_field"),
        )

    @property
    def field_names(self) -> list[str]:
        return [str(f["name"]) for f in self.schema["fields"]]

    def descriptor(self) -> dict[str, Any]:
        return copy.deepcopy(self.schema)


def load_specs() -> tuple[Spec, ...]:
    text = resources.files("cityos.demo").joinpath(DATASETS_FILE).read_text("utf-8")
    return tuple(Spec.from_mapping(raw) for raw in yaml.safe_load(text))


SPECS: tuple[Spec, ...] = load_specs()
BY_NAME: dict[str, Spec] = {spec.name: spec for spec in SPECS}
