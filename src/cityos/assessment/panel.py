"""The input of a run: units (cities or areas) × indicators × years, as one numpy array."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit being assessed: a city (peer benchmarking) or an area of the city map.

    ``attributes`` holds numbers used as denominators (``population``, ``area_km2``);
    ``group`` is the grouping column of group imputation (e.g. the region), ``tier`` picks
    tier-specific weights."""

    code: str
    name_en: str
    name_zh: str = ""
    group: str | None = None
    tier: str | None = None
    attributes: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Panel:
    units: tuple[Unit, ...]
    indicators: tuple[str, ...]  # indicator codes: the columns
    years: tuple[int, ...]  # ascending
    values: FloatArray  # shape (years, units, indicators); NaN is missing

    def __post_init__(self) -> None:
        expected = (len(self.years), len(self.units), len(self.indicators))
        if self.values.shape != expected:
            raise ValueError(f"values has shape {self.values.shape}, expected {expected}")

    @classmethod
    def from_records(
        cls,
        units: Iterable[Unit],
        indicators: Iterable[str],
        records: Iterable[tuple[str, int, str, float | None]],
    ) -> Panel:
        """Build a panel from ``(unit code, year, indicator code, value)`` records.

        Records of units or indicators not listed are ignored; a later record for the same
        cell replaces an earlier one."""
        unit_list = tuple(units)
        codes = tuple(indicators)
        rows = list(records)
        years = tuple(sorted({year for _, year, _, _ in rows})) or (0,)
        unit_at = {unit.code: i for i, unit in enumerate(unit_list)}
        indicator_at = {code: j for j, code in enumerate(codes)}
        year_at = {year: k for k, year in enumerate(years)}
        values = np.full((len(years), len(unit_list), len(codes)), np.nan)
        for unit_code, year, code, value in rows:
            i, j = unit_at.get(unit_code), indicator_at.get(code)
            if i is None or j is None or value is None:
                continue
            values[year_at[year], i, j] = value
        return cls(unit_list, codes, years, values)

    def latest_year(self) -> int:
        """The latest year that has any value (the first year when the panel is empty)."""
        filled = ~np.isnan(self.values).all(axis=(1, 2))
        return self.years[int(np.flatnonzero(filled)[-1])] if filled.any() else self.years[0]

    def at(self, year: int) -> FloatArray:
        """The units × indicators matrix of one year (a copy)."""
        if year not in self.years:
            raise KeyError(year)
        return np.array(self.values[self.years.index(year)], copy=True)

    def unit_codes(self) -> list[str]:
        return [unit.code for unit in self.units]
