"""Photos from citizens and staff: checked to be real images, re-encoded without metadata.

Re-encoding (rather than trusting the upload) drops EXIF, GPS and any payload hidden in the
file; the orientation from EXIF is applied first so the picture stays upright.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageOps, UnidentifiedImageError

from cityos.cases.models import CasePhoto, PhotoKind
from cityos.errors import InvalidInput, PayloadTooLarge

FORMATS: Final = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
MAX_PIXELS: Final = 40_000_000  # refuse decompression bombs before decoding
MAX_SIDE: Final = 2560  # larger photos are scaled down


@dataclass(frozen=True, slots=True)
class PhotoUpload:
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class CleanPhoto:
    media_type: str
    width: int
    height: int
    data: bytes


def clean(upload: PhotoUpload, *, max_bytes: int) -> CleanPhoto:
    """The photo re-encoded without metadata; InvalidInput / PayloadTooLarge explain refusals."""
    name = upload.filename or "the photo"
    if len(upload.data) > max_bytes:
        raise PayloadTooLarge(
            f"{name} is {len(upload.data) / 1e6:.1f} MB; the largest accepted photo is "
            f"{max_bytes / 1e6:.0f} MB. Send a smaller picture."
        )
    try:
        with Image.open(io.BytesIO(upload.data)) as probe:
            kind = probe.format or ""
            if kind not in FORMATS:
                raise InvalidInput(
                    f"{name} is a {kind or 'unknown'} file; photos must be JPEG, PNG or WebP."
                )
            if probe.width * probe.height > MAX_PIXELS:
                raise InvalidInput(
                    f"{name} is {probe.width}×{probe.height} pixels; at most "
                    f"{MAX_PIXELS // 1_000_000} megapixels are accepted."
                )
            probe.load()
            image = ImageOps.exif_transpose(probe)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidInput(
            f"{name} is not a picture we can read; photos must be JPEG, PNG or WebP images."
        ) from None
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    if kind == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    out = io.BytesIO()
    options: dict[str, object] = {"quality": 88} if kind in ("JPEG", "WEBP") else {"optimize": True}
    image.save(out, format=kind, **options)  # no exif= argument: metadata is dropped
    return CleanPhoto(FORMATS[kind], image.width, image.height, out.getvalue())


def as_row(photo: CleanPhoto, *, case_id: int, update_id: int, kind: PhotoKind) -> CasePhoto:
    """The stored form of a cleaned photo, attached to the update that brought it."""
    return CasePhoto(
        case_id=case_id,
        update_id=update_id,
        kind=kind,
        media_type=photo.media_type,
        width=photo.width,
        height=photo.height,
        size=len(photo.data),
        data=photo.data,
    )
