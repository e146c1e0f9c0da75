"""NumPy preprocessing: brain masks, robust normalisation, resizing, model range [-1, 1]."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

#: a slice whose brain mask covers less than this fraction of the image is "near-empty"
MIN_BRAIN_FRACTION = 0.02


def robust_scale(volume: np.ndarray, mask: np.ndarray | None = None,
                 low: float = 0.5, high: float = 99.5) -> tuple[np.ndarray, tuple[float, float]]:
    """Map the [low, high] percentiles inside ``mask`` to [0, 1] (clipped); return the bounds."""
    values = volume[mask] if mask is not None and mask.any() else volume[volume != 0]
    if values.size == 0:
        values = volume.ravel()
    lo, hi = (float(v) for v in np.percentile(values, [low, high]))
    if hi <= lo:
        hi = lo + 1.0
    return np.clip((volume - lo) / (hi - lo), 0.0, 1.0).astype(np.float32), (lo, hi)


def head_mask(image: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Foreground mask of a 2-D image in [0, 1]: Otsu-like threshold, largest component, holes filled."""
    img = np.asarray(image, np.float32)
    if threshold is None:
        u8 = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        otsu, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        threshold = max(otsu / 255.0 * 0.5, 0.02)
    mask = img > threshold
    if not mask.any():
        return mask
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum(mask, labels, range(1, count + 1))
        mask = labels == (int(np.argmax(sizes)) + 1)
    mask = ndimage.binary_closing(mask, iterations=2)
    return ndimage.binary_fill_holes(mask)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a 2-D float image to size x size (area when shrinking, cubic when growing)."""
    if image.shape == (size, size):
        return image.astype(np.float32)
    shrink = image.shape[0] > size or image.shape[1] > size
    out = cv2.resize(image.astype(np.float32), (size, size),
                     interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return out.astype(np.float32)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize a 2-D boolean mask with nearest-neighbour interpolation."""
    if mask.shape == (size, size):
        return mask.astype(bool)
    return cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)


def to_model_range(image01: np.ndarray) -> np.ndarray:
    """[0, 1] -> [-1, 1]."""
    return (np.clip(image01, 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)


def from_model_range(image: np.ndarray) -> np.ndarray:
    """[-1, 1] -> [0, 1]."""
    return np.clip((np.asarray(image, np.float32) + 1.0) / 2.0, 0.0, 1.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[-1, 1] -> uint8 [0, 255]."""
    return np.round(from_model_range(image) * 255.0).astype(np.uint8)
