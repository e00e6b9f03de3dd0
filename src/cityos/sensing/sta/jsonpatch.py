"""A small RFC 6902 JSON Patch applier (``application/json-patch+json`` on PATCH).

:func:`apply_patch` returns a patched copy; the document given is never changed. A malformed
patch is :class:`InvalidInput` (400); a patch that does not fit the document (a missing path,
a failed ``test``) is :class:`Conflict` (409), as RFC 5789 suggests.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from cityos.errors import Conflict, InvalidInput

OPS = ("add", "remove", "replace", "move", "copy", "test")


def parse_pointer(pointer: Any, *, what: str) -> list[str]:
    """The reference tokens of a JSON Pointer (RFC 6901), ``~1`` and ``~0`` unescaped."""
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise InvalidInput(f"{what}: {pointer!r} is not a JSON Pointer (write it like '/name').")
    if pointer == "":
        return []
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def _index(container: list[Any], step: str, *, pointer: str, adding: bool) -> int:
    if adding and step == "-":
        return len(container)
    if not step.isdigit() or (step != "0" and step.startswith("0")):
        raise Conflict(f"{pointer}: {step!r} is not an array index.")
    index = int(step)
    limit = len(container) if adding else len(container) - 1
    if index > limit:
        raise Conflict(f"{pointer}: index {index} is past the end of the array.")
    return index


def _parent(doc: Any, tokens: list[str], pointer: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, pointer)
    return node


def _child(node: Any, token: str, pointer: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise Conflict(f"{pointer}: the document has no member {token!r}.")
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, pointer=pointer, adding=False)]
    raise Conflict(f"{pointer}: {token!r} goes inside a value that is not an object or array.")


def _get(doc: Any, pointer: str) -> Any:
    node = doc
    for token in parse_pointer(pointer, what="path"):
        node = _child(node, token, pointer)
    return node


def _add(doc: Any, pointer: str, value: Any) -> Any:
    tokens = parse_pointer(pointer, what="path")
    if not tokens:
        return value
    parent = _parent(doc, tokens, pointer)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], pointer=pointer, adding=True), value)
    else:
        raise Conflict(f"{pointer}: the parent is not an object or array.")
    return doc


def _remove(doc: Any, pointer: str) -> tuple[Any, Any]:
    tokens = parse_pointer(pointer, what="path")
    if not tokens:
        raise Conflict("Removing the whole document ('') is not allowed.")
    parent = _parent(doc, tokens, pointer)
    if isinstance(parent, dict):
        if tokens[-1] not in parent:
            raise Conflict(f"{pointer}: the document has no member {tokens[-1]!r} to remove.")
        return doc, parent.pop(tokens[-1])
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, tokens[-1], pointer=pointer, adding=False))
    raise Conflict(f"{pointer}: the parent is not an object or array.")


def _operation(doc: Any, op: Any, number: int) -> Any:
    what = f"JSON Patch operation {number}"
    if not isinstance(op, dict):
        raise InvalidInput(f"{what} must be an object like {{'op': 'replace', 'path': ...}}.")
    kind = op.get("op")
    if kind not in OPS:
        raise InvalidInput(f"{what}: 'op' must be one of {', '.join(OPS)} (got {kind!r}).")
    if "path" not in op:
        raise InvalidInput(f"{what} ({kind}) has no 'path'.")
    path = op["path"]
    parse_pointer(path, what=f"{what} path")
    if kind in ("add", "replace", "test") and "value" not in op:
        raise InvalidInput(f"{what} ({kind}) has no 'value'.")
    if kind in ("move", "copy"):
        if "from" not in op:
            raise InvalidInput(f"{what} ({kind}) has no 'from'.")
        parse_pointer(op["from"], what=f"{what} from")
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind == "remove":
        return _remove(doc, path)[0]
    if kind == "replace":
        doc, _old = _remove(doc, path) if path else (doc, None)
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind == "move":
        source = op["from"]
        if path != source and path.startswith(source + "/"):
            raise Conflict(f"{what}: cannot move {source} into its own child {path}.")
        doc, value = _remove(doc, source)
        return _add(doc, path, value)
    if kind == "copy":
        return _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
    actual = _get(doc, path)
    if not json_equal(actual, op["value"]):
        raise Conflict(f"{what}: test failed: {path} is {actual!r}, not {op['value']!r}.")
    return doc


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def apply_patch(document: Any, patch: Any) -> Any:
    """``document`` with the operations of ``patch`` (a JSON array) applied in order."""
    if not isinstance(patch, Sequence) or isinstance(patch, str | bytes):
        raise InvalidInput("A JSON Patch body must be a JSON array of operations (RFC 6902).")
    doc = copy.deepcopy(document)
    for number, op in enumerate(patch, start=1):
        doc = _operation(doc, op, number)
    return doc
