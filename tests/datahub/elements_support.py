"""Data elements for pure-function tests (no database): the built-ins, checked."""

from __future__ import annotations

from typing import Any

from cityos.datahub.builtin_elements import BUILTIN_ELEMENTS
from cityos.datahub.elements import check_element
from cityos.datahub.models import DataElement


def element(**data: Any) -> DataElement:
    """A transient element from ``data`` (checked like the service checks it)."""
    return DataElement(**check_element(data), builtin=False)


def builtin_elements() -> dict[str, DataElement]:
    """The built-in elements, keyed by code, as the service would store them."""
    return {
        data["code"]: DataElement(**check_element(data), builtin=True) for data in BUILTIN_ELEMENTS
    }
