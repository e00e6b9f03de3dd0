"""Uploaded files of the data hub API: copied to a temporary file, never past a size limit."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from cityos.errors import InvalidInput, PayloadTooLarge

CHUNK = 1024 * 1024


def too_large(name: str, limit_mb: float) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{name} is larger than {limit_mb:g} MB, the largest upload accepted here. "
        "Split the file, or load it with `cityos data load` on the server."
    )


@contextmanager
def saved_upload(
    source: BinaryIO, *, name: str, limit_mb: float, suffix: str = ""
) -> Iterator[Path]:
    """Copy ``source`` in chunks to a temporary file (removed afterwards); refuse it as soon
    as it grows past ``limit_mb``, and refuse an empty one."""
    limit = int(limit_mb * 1024 * 1024)
    handle, raw_path = tempfile.mkstemp(prefix="cityos-upload-", suffix=suffix)
    path = Path(raw_path)
    try:
        written = 0
        with os.fdopen(handle, "wb") as out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise too_large(name, limit_mb)
                out.write(chunk)
        if written == 0:
            raise InvalidInput(f"{name} is empty: send a file with a header row and data.")
        yield path
    finally:
        path.unlink(missing_ok=True)


def read_limited(source: BinaryIO, *, name: str, limit_mb: float) -> bytes:
    """The whole of a small upload (an attached file), refused past ``limit_mb``."""
    limit = int(limit_mb * 1024 * 1024)
    data = source.read(limit + 1)
    if len(data) > limit:
        raise too_large(name, limit_mb)
    if not data:
        raise InvalidInput(f"{name} is empty.")
    return data
