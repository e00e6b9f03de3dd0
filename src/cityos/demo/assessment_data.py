"""The numbers of the demo city's assessments: INVENTED for the demo, not real statistics.

Every value here is made up to look plausible (magnitudes per indicator unit: USD PPP,
%, per 1,000, years, µg/m³ …) so that the assessment pages have something to show. Real
values come from users' imports (the UN-Habitat sheet, their own statistics). Stored values
carry the source :data:`SOURCE` and the note :data:`NOTE`, so nobody mistakes them for data.

- City Prosperity (``un-habitat-cpi``): Minghu and nine peer cities for 2020 and 2024; the
  2024 table is written out below, 2020 follows from a per-indicator trend and a little
  fixed-seed noise; a few cells are left empty so that imputation has work to do.
- GB/T 33356 (``gbt33356-2016``): the 8 districts of Minghu for 2024 and 2025, 0–100 scores
  from a typical level per sub-item, each district's strengths and weaknesses per
  first-level area and fixed-seed noise; a few cells are empty.
"""

from __future__ import annotations

import numpy as np

from cityos.assessment.service import ValueRecord
from cityos.demo.city import CITY_CODE

SOURCE = "demo (invented)"
NOTE = "Invented for the CityOS demo; not real data."
SEED = 20_260_606
CPI_YEARS = (2020, 2024)
GBT_YEARS = (2024, 2025)

# --- units -----------------------------------------------------------------------------

CITY_POPULATION = 3_200_000.0
REGION_HOME = "East Asia"
# district code → residents (sum: the city's population)
DISTRICT_POPULATION: dict[str, float] = {
    "MH-01": 518_400.0,  # Hubin: the old centre by the lake, dense
    "MH-02": 306_900.0,  # Xiling: hills and scenic areas in the west
    "MH-03": 431_200.0,  # Beitang: the old industrial north
    "MH-04": 402_700.0,  # Donggang: the river port in the east
    "MH-05": 384_500.0,  # Jiangwan: the riverside
    "MH-06": 337_800.0,  # Nanping: quiet residential south
    "MH-07": 452_100.0,  # Gaoxin: the high-tech zone
    "MH-08": 366_400.0,  # Xincheng: the new town
}

CHINA_GROUP = "china"
# code, English name, Chinese name, country, region, population, area km²
PEER_CITIES: tuple[tuple[str, str, str, str, str, float, float], ...] = (
    ("london-united-kingdom", "London", "伦敦", "United Kingdom", "Europe", 8_900_000, 1_572),
    (
        "new-york-united-states",
        "New York",
        "纽约",
        "United States",
        "North America",
        8_300_000,
        783,
    ),
    ("paris-france", "Paris", "巴黎", "France", "Europe", 2_100_000, 105),
    ("tokyo-japan", "Tokyo", "东京", "Japan", "East Asia", 14_000_000, 2_194),
    ("singapore", "Singapore", "新加坡", "Singapore", "South-East Asia", 5_900_000, 735),
    ("shanghai-china", "Shanghai", "上海", "China", "East Asia", 24_800_000, 6_341),
    ("beijing-china", "Beijing", "北京", "China", "East Asia", 21_800_000, 16_411),
    ("shenzhen-china", "Shenzhen", "深圳", "China", "East Asia", 17_700_000, 1_997),
    ("hangzhou-china", "Hangzhou", "杭州", "China", "East Asia", 12_500_000, 16_850),
)
CHINA_MEMBERS = ("shanghai-china", "beijing-china", "shenzhen-china", "hangzhou-china")

# --- City Prosperity: 2024 --------------------------------------------------------------

# The columns of CPI_2024, in this order.
CPI_UNITS: tuple[str, ...] = (CITY_CODE, *(code for code, *_ in PEER_CITIES))
# indicator → (Minghu, London, New York, Paris, Tokyo, Singapore, Shanghai, Beijing,
# Shenzhen, Hangzhou); None: no value (left for imputation)
CPI_2024: dict[str, tuple[float | None, ...]] = {
    "CPI.P.1": (31_000, 72_000, 95_000, 68_000, 52_000, 108_000, 42_000, 44_000, 48_000, 36_000),
    "CPI.P.2": (3.4, 4.6, 5.2, 7.3, 2.6, 2.0, 4.5, 4.2, 4.6, 4.3),
    "CPI.ID.1": (96.4, 99.5, 99.0, 99.5, 99.8, 100.0, 98.5, 98.7, 97.8, 98.2),
    "CPI.ID.2": (None, 97.0, 95.0, 97.5, 99.0, 99.5, 93.0, 94.0, 90.0, 92.5),
    "CPI.ID.3": (99.2, 100.0, 100.0, 100.0, 100.0, 100.0, 99.8, 99.9, 99.7, 99.6),
    "CPI.ID.4": (3.3, 3.2, 3.6, 4.3, 2.7, 2.6, 3.4, 5.0, 2.9, 4.1),
    "CPI.ID.5": (90.0, 95.0, 92.0, 93.0, 93.0, 96.0, 88.0, 89.0, 92.0, 91.0),
    "CPI.ID.6": (47.0, 45.0, 56.0, 64.0, 78.0, 68.0, 58.0, 55.0, 60.0, 50.0),
    "CPI.ID.7": (66.0, 79.0, 82.0, 68.0, 86.0, 62.0, 74.0, 94.0, 72.0, None),
    "CPI.ID.8": (5.0, 1.6, 3.0, 1.7, 1.0, 2.0, 3.9, 4.3, 3.2, 4.5),
    "CPI.QOL.1": (82.6, 82.0, 81.0, 84.0, 85.2, 83.9, 84.1, 82.5, 82.0, 83.6),
    "CPI.QOL.2": (4.0, 4.2, 5.3, 3.9, 2.3, 2.1, 2.8, 2.6, 2.9, 3.1),
    "CPI.QOL.3": (97.9, 99.0, 98.0, 99.0, 99.5, 97.6, 98.6, 98.9, 98.8, 98.4),
    "CPI.QOL.4": (10.8, 13.1, 13.4, 12.4, 12.9, 11.9, 11.5, 12.6, 11.9, 11.4),
    "CPI.QOL.5": (0.3, 1.4, 4.4, 1.3, 0.3, 0.2, 0.5, 0.5, 0.6, 0.4),
    "CPI.ESI.1": (0.33, 0.45, 0.51, 0.35, 0.33, 0.43, 0.40, 0.39, None, 0.38),
    "CPI.ESI.2": (0.5, 1.5, 1.7, 0.4, 0.4, None, 0.5, 0.4, 0.3, 0.6),
    "CPI.ESI.3": (1.8, 1.0, 1.0, 1.0, None, 0.5, 2.5, 2.0, 5.5, 3.0),
    "CPI.ESI.4": (11.0, 12.5, 9.8, 17.5, 4.1, 6.5, 14.8, 15.5, 13.9, 14.2),
    "CPI.ESI.5": (0.98, 1.0, 1.02, 1.01, 1.0, 0.99, 1.01, 1.02, 0.99, 1.0),
    "CPI.ES.1": (33.6, 9.8, 8.5, 11.4, 9.6, 13.5, 28.0, 30.5, 17.8, 29.5),
    "CPI.ES.2": (58.0, 16.5, 15.2, 18.3, 15.5, 24.0, 48.0, 54.0, 34.0, 53.0),
    "CPI.ES.3": (5.2, 3.4, 5.9, 3.6, 4.6, 7.2, 7.9, 6.1, 4.4, 6.3),
    "CPI.ES.4": (24.0, 22.0, None, 19.0, 14.0, 4.5, 16.0, 14.0, 21.0, 18.0),
    "CPI.GI.1": (88.9, 42.0, 23.0, 46.0, 41.0, 96.0, 90.5, 89.2, 86.7, 91.3),
}
# relative change from 2020 to 2024 (2020 = 2024 ÷ (1 + change), then ± a little noise)
CPI_CHANGE: dict[str, float] = {
    "CPI.P.1": 0.15, "CPI.P.2": -0.2, "CPI.ID.1": 0.003, "CPI.ID.2": 0.02,
    "CPI.ID.3": 0.001, "CPI.ID.4": 0.05, "CPI.ID.5": 0.06, "CPI.ID.6": 0.08,
    "CPI.ID.7": 0.03, "CPI.ID.8": -0.1, "CPI.QOL.1": 0.01, "CPI.QOL.2": -0.1,
    "CPI.QOL.3": 0.003, "CPI.QOL.4": 0.03, "CPI.QOL.5": -0.05, "CPI.ESI.1": -0.01,
    "CPI.ESI.2": -0.15, "CPI.ESI.3": -0.1, "CPI.ESI.4": 0.05, "CPI.ESI.5": 0.0,
    "CPI.ES.1": -0.15, "CPI.ES.2": -0.12, "CPI.ES.3": -0.05, "CPI.ES.4": 0.2, "CPI.GI.1": 0.0,
}  # fmt: skip
PERCENT = {"CPI.ID.1", "CPI.ID.2", "CPI.ID.3", "CPI.ID.5", "CPI.QOL.3", "CPI.GI.1"}
CPI_MISSING_2020 = {
    (CITY_CODE, "CPI.ID.8"),
    ("beijing-china", "CPI.QOL.4"),
    ("paris-france", "CPI.ID.7"),
}

# --- GB/T 33356: districts ----------------------------------------------------------------

# sub-item → the typical score of a district in 2025 (0–100)
GBT_LEVEL: dict[str, float] = {
    "GBT.A1.1": 92, "GBT.A1.2": 78, "GBT.A1.3": 85, "GBT.A2.1": 80, "GBT.A2.2": 88,
    "GBT.A3.1": 90, "GBT.A3.2": 82, "GBT.A4.1": 86, "GBT.A4.2": 70, "GBT.A5.1": 98,
    "GBT.A5.2": 88, "GBT.A6.1": 87, "GBT.A6.2": 75, "GBT.A7.1": 72, "GBT.A7.2": 86,
    "GBT.A8.1": 68, "GBT.A8.2": 90, "GBT.A9.1": 32, "GBT.B1.1": 90, "GBT.B1.2": 55,
    "GBT.B2.1": 92, "GBT.B2.2": 64, "GBT.C1.1": 85, "GBT.C1.2": 78, "GBT.C2.1": 48,
    "GBT.C2.2": 60, "GBT.D1.1": 80, "GBT.D1.2": 97, "GBT.D2.1": 70, "GBT.E1.1": 75,
    "GBT.E1.2": 42, "GBT.E2.1": 58, "GBT.F1.1": 80, "GBT.F2.1": 82, "GBT.F2.2": 76,
    "GBT.G1.1": 74, "GBT.G1.2": 65, "GBT.H1.1": 81,
}  # fmt: skip
# district → (points above or below the typical level, {first-level area letter: points})
GBT_PROFILE: dict[str, tuple[float, dict[str, float]]] = {
    "MH-01": (3.0, {"A": 4, "B": 3, "C": -2, "D": -3}),  # mature services, old networks
    "MH-02": (-5.0, {"A": -3, "C": 7, "D": -4}),  # green, but thinly served
    "MH-03": (-6.0, {"B": -3, "C": -6, "H": -2}),  # old industry
    "MH-04": (0.0, {"B": 5, "C": -3}),  # the port: strong city management
    "MH-05": (2.0, {"C": 3, "H": 4}),
    "MH-06": (-1.0, {"A": 3, "E": -5, "H": 5}),  # residents are content
    "MH-07": (6.0, {"A": -2, "D": 6, "E": 8, "F": 5}),  # the high-tech zone
    "MH-08": (1.0, {"A": -5, "B": 4, "D": 5, "H": -4}),  # new networks, few services yet
}
GBT_MISSING = {
    (2025, "MH-02", "GBT.A9.1"),
    (2025, "MH-03", "GBT.E2.1"),
    (2025, "MH-06", "GBT.C2.1"),
    (2025, "MH-08", "GBT.G1.2"),
    (2024, "MH-03", "GBT.B1.2"),
    (2024, "MH-05", "GBT.A6.2"),
    (2024, "MH-07", "GBT.D2.1"),
}


def tidy(value: float) -> float:
    """A value rounded as a statistics office would print it (3–4 significant digits)."""
    size = abs(value)
    if size >= 1000:
        return float(round(value, -1))
    if size >= 10:
        return round(value, 1)
    if size >= 1:
        return round(value, 2)
    return round(value, 3)


def cpi_values() -> list[ValueRecord]:
    """The City Prosperity values of Minghu and its peers, 2020 and 2024 (invented)."""
    rng = np.random.default_rng(SEED)
    records: list[ValueRecord] = []
    for code, row in CPI_2024.items():
        noise = rng.normal(0.0, 0.015, size=len(row))
        for unit, value, wobble in zip(CPI_UNITS, row, noise, strict=True):
            if value is None:
                continue
            records.append(ValueRecord(unit, code, CPI_YEARS[1], float(value), NOTE))
            if (unit, code) in CPI_MISSING_2020:
                continue
            earlier = value / (1.0 + CPI_CHANGE[code]) * (1.0 + float(wobble))
            if code in PERCENT:
                earlier = min(earlier, 100.0)
            records.append(ValueRecord(unit, code, CPI_YEARS[0], tidy(earlier), NOTE))
    return records


def gbt_values() -> list[ValueRecord]:
    """The GB/T 33356 sub-item scores of the 8 districts, 2024 and 2025 (invented)."""
    rng = np.random.default_rng(SEED + 1)
    records: list[ValueRecord] = []
    for district, (base, strengths) in GBT_PROFILE.items():
        for code, level in GBT_LEVEL.items():
            area = code.split(".")[1][0]  # GBT.A1.1 → A
            latest = level + base + strengths.get(area, 0.0) + float(rng.normal(0.0, 3.5))
            latest = min(max(latest, 5.0), 99.5)
            earlier = max(latest - float(rng.uniform(0.5, 6.0)), 0.0)
            for year, value in zip(GBT_YEARS, (earlier, latest), strict=True):
                if (year, district, code) not in GBT_MISSING:
                    records.append(ValueRecord(district, code, year, round(value, 1), NOTE))
    return records
