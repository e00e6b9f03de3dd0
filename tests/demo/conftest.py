"""The demo's tests seed the whole city; a small air-quality history keeps them quick."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def small_air_quality_history(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cityos.demo.datahub.BIG_ROWS", 2_000)


@pytest.fixture(autouse=True)
def small_sensor_fleet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cityos.demo.sensing.SENSORS", 60)
    monkeypatch.setattr("cityos.demo.sensing.BIG_OBSERVATIONS", 30_000)
    monkeypatch.setattr("cityos.demo.sensing.SMALL_OBSERVATIONS", 20_000)
