"""Decoding 2-D image files with OpenCV into [0, 1] float32, with a short reason for bad files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# OpenCV would otherwise print its own warnings (e.g. "PNG input buffer is incomplete") to stderr
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

_AS_STORED = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR


class UnreadableFile(Exception):
    """A file that cannot be used; ``str(err)`` is the reason, for ``Reader.skip``."""


def _decode(path: Path, flags: int) -> np.ndarray:
    data = np.fromfile(path, np.uint8)
    if data.size == 0:
        raise UnreadableFile("empty file (0 bytes)")
    image = cv2.imdecode(data, flags)
    if image is None and flags != _AS_STORED:  # e.g. float TIFF, which IMREAD_GRAYSCALE refuses
        image = cv2.imdecode(data, _AS_STORED)
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
