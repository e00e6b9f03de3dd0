"""The RFC 6902 JSON Patch applier used by PATCH with application/json-patch+json."""

from __future__ import annotations

from typing import Any

import pytest

from cityos.errors import Conflict, InvalidInput
from cityos.sensing.sta.jsonpatch import apply_patch


def test_every_operation_applies_in_order_on_a_copy() -> None:
    doc: dict[str, Any] = {"a": {"b": [1, 2]}, "c": "x", "t~/": 1}
    patched = apply_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/1", "value": 9},
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "remove", "path": "/c"},
            {"op": "replace", "path": "/t~0~1", "value": 2},
            {"op": "copy", "from": "/a/b", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/e"},
            {"op": "test", "path": "/e/0", "value": 1.0},
        ],
    )
    assert patched == {"a": {"b": [1, 9, 2, 3]}, "t~/": 2, "e": [1, 9, 2, 3]}
    assert doc == {"a": {"b": [1, 2]}, "c": "x", "t~/": 1}


@pytest.mark.parametrize(
    "patch",
    [
        {"op": "add"},
        [{"op": "add", "path": "/x"}],
        [{"op": "jump", "path": "/x"}],
        [{"op": "move", "path": "/x"}],
        [{"op": "add", "path": "x", "value": 1}],
    ],
)
def test_malformed_patch_is_invalid_input(patch: Any) -> None:
    with pytest.raises(InvalidInput):
        apply_patch({"a": 1}, patch)


@pytest.mark.parametrize(
    "op",
    [
        {"op": "remove", "path": "/missing"},
        {"op": "replace", "path": "/list/5", "value": 1},
        {"op": "test", "path": "/a", "value": True},
        {"op": "move", "from": "/obj", "path": "/obj/inner"},
    ],
)
def test_patch_that_does_not_fit_is_a_conflict(op: dict[str, Any]) -> None:
    with pytest.raises(Conflict):
        apply_patch({"a": 1, "list": [], "obj": {}}, [op])
