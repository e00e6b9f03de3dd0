"""Hypothesis strategies shared by the engine's property tests: float matrices with
missing values and ties."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cityos.assessment.result import FloatArray

# Small integers give ties; thousandths up to ±1e6 give spread. No infinities, no NaN (added
# separately where missing values matter), no values so tiny that their squares underflow.
values = st.one_of(
    st.integers(min_value=-50, max_value=50).map(float),
    st.integers(min_value=-(10**9), max_value=10**9).map(lambda i: i / 1000),
)
positive = st.one_of(
    st.integers(min_value=1, max_value=50).map(float),
    st.integers(min_value=1, max_value=10**9).map(lambda i: i / 1000),
)


@st.composite
def matrices(
    draw: st.DrawFn,
    *,
    rows: tuple[int, int] = (1, 12),
    cols: tuple[int, int] = (1, 5),
    elements: st.SearchStrategy[float] = values,
    missing: bool = True,
) -> FloatArray:
    """A rows × columns float matrix, with some cells missing when ``missing``."""
    shape = (
        draw(st.integers(min_value=rows[0], max_value=rows[1])),
        draw(st.integers(min_value=cols[0], max_value=cols[1])),
    )
    matrix = draw(hnp.arrays(np.float64, shape, elements=elements))
    if missing:
        holes = draw(hnp.arrays(np.bool_, shape, elements=st.booleans()))
        matrix = np.where(holes, np.nan, matrix)
    return np.asarray(matrix, dtype=np.float64)


@st.composite
def columns(
    draw: st.DrawFn,
    *,
    size: tuple[int, int] = (2, 15),
    elements: st.SearchStrategy[float] = values,
    unique: bool = False,
) -> FloatArray:
    """One column of values, without missing values."""
    n = draw(st.integers(min_value=size[0], max_value=size[1]))
    return np.asarray(
        draw(hnp.arrays(np.float64, (n,), elements=elements, unique=unique)), dtype=np.float64
    )
