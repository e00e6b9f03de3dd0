"""The operations center's interface for its web layer and for other callers.

The ops domain owns only operator notes; every figure comes from the other domains'
``service`` modules. Data functions take the parsed :class:`Filters` and a
:class:`FigureCache` (one per app; see :mod:`cityos.ops.cache`). Nothing here knows HTTP.
"""

from __future__ import annotations

from cityos.ops.actions import Dispatch, acknowledge, dispatch
from cityos.ops.cache import FigureCache
from cityos.ops.filters import RANGES, AreaScope, Filters, Period, parse_filters
from cityos.ops.layers import LAYERS, layer
from cityos.ops.notes import add_note, list_notes, note_dict
from cityos.ops.series import SERIES, series
from cityos.ops.summary import TILE_KEYS, summary

__all__ = [
    "LAYERS",
    "RANGES",
    "SERIES",
    "TILE_KEYS",
    "AreaScope",
    "Dispatch",
    "FigureCache",
    "Filters",
    "Period",
    "acknowledge",
    "add_note",
    "dispatch",
    "layer",
    "list_notes",
    "note_dict",
    "parse_filters",
    "series",
    "summary",
]
