"""Decoding 2-D image files with OpenCV into [0, 1] float32, with a short reason for bad files.

A file is checked before it is decoded: it must be readable, and the size its header claims at
most ``MAX_PIXELS`` (a few bytes can claim gigabytes of pixels).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mri_gan.data.file_access import access_problem, os_reason
from mri_gan.data.image_header import dimensions

# OpenCV would otherwise print its own warnings (e.g. "PNG input buffer is incomplete") to stderr
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

_AS_STORED = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
#: the most pixels an image may have (8192 x 8192); a header claiming more is refused undecoded
MAX_PIXELS = 8192 * 8192


class UnreadableFile(Exception):
    """A file that cannot be used; ``str(err)`` is the reason, for ``Reader.skip``."""


def check_readable(path: Path) -> None:
    """UnreadableFile when this process cannot read the file (``file_access.access_problem``)."""
    problem = access_problem(path)
    if problem:
        raise UnreadableFile(problem)


def _read(path: Path) -> np.ndarray:
    """The bytes of an image file whose header claims at most MAX_PIXELS."""
    check_readable(path)
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as err:
        raise UnreadableFile(os_reason(err, path)) from None
    if data.size == 0:
        raise UnreadableFile("empty file (0 bytes)")
    size = dimensions(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise UnreadableFile(f"its header claims {size[0]}x{size[1]} pixels, more than the "
                             f"{MAX_PIXELS} (8192 x 8192) an image may have")
    return data


def _decode(path: Path, flags: int) -> np.ndarray:
    data = _read(path)
    try:
        image = cv2.imdecode(data, flags)
        if image is None and flags != _AS_STORED:  # e.g. float TIFF, which IMREAD_GRAYSCALE refuses
            image = cv2.imdecode(data, _AS_STORED)
    except cv2.error:  # e.g. OpenCV's own size limit, for a format without a header read above
        image = None
    if image is None or image.size == 0:
        raise UnreadableFile("not a readable image (corrupt, truncated or unsupported format)")
    return image


def read_rgb(path: Path) -> np.ndarray:
    """The pixels of an image file as stored: (H, W) gray or (H, W, 3) in RGB order (not BGR)."""
    image = _decode(path, _AS_STORED)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image


def to_unit(image: np.ndarray) -> np.ndarray:
    """Integer pixels divided by their type's maximum; float pixels min-max scaled; -> float32 [0, 1]."""
    if np.issubdtype(image.dtype, np.integer):
        out = image.astype(np.float32)
        out *= np.float32(1.0 / np.iinfo(image.dtype).max)
        return out
    image = image.astype(np.float32)
    if not np.isfinite(image).all():
        raise UnreadableFile("image contains NaN or infinite pixels")
    lo, hi = float(image.min()), float(image.max())
    return (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)


def read_gray(path: Path) -> np.ndarray:
    """A 2-D image file as gray (luminance) float32 in [0, 1]."""
    image = _decode(path, cv2.IMREAD_GRAYSCALE)
    return to_unit(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image)
