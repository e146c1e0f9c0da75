"""NumPy preprocessing: brain masks, robust normalisation, resizing, model range [-1, 1]."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

#: a slice whose brain mask covers less than this fraction of the image is "near-empty"
MIN_BRAIN_FRACTION = 0.02

#: where ``robust_scale`` puts the median inside the brain
MEDIAN_LEVEL = 0.35


def robust_scale(volume: np.ndarray, mask: np.ndarray | None = None,
                 low: float = 0.5, level: float = MEDIAN_LEVEL) -> tuple[np.ndarray, tuple[float, float]]:
    """Scale linearly so that the ``low`` percentile inside ``mask`` is 0 and the median is
    ``level``, clipped to [0, 1]; return the bounds (the values mapped to 0 and 1).

    The median, not a high percentile, fixes the scale: a bright lesion then leaves the rest
    of the brain where it is in a lesion-free subject (at 0.35, 2.9 x the median is 1)."""
    lo, hi = robust_bounds(volume, mask, low, level)
    return np.clip((volume - lo) / (hi - lo), 0.0, 1.0).astype(np.float32), (lo, hi)


def robust_bounds(volume: np.ndarray, mask: np.ndarray | None = None,
                  low: float = 0.5, level: float = MEDIAN_LEVEL) -> tuple[float, float]:
    """The values :func:`robust_scale` maps to 0 and 1: the ``low`` percentile inside ``mask``
    (else of the non-zero voxels, else of all), and the value that puts the median at ``level``."""
    values = volume[mask] if mask is not None and mask.any() else volume[volume != 0]
    if values.size == 0:
        values = volume.ravel()
    lo, median = (float(v) for v in np.percentile(values, [low, 50]))
    hi = lo + (median - lo) / level
    return lo, (hi if hi > lo else lo + 1.0)


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


def brain_mask(image: np.ndarray, head: np.ndarray, angles: int = 180) -> np.ndarray:
    """Brain inside ``head`` of an axial 2-D image in [0, 1] that still has its skull.

    Along rays from the head's centre of mass, walking in from the head's edge: the bright
    scalp, then the dark skull (below 0.6 x the Otsu level inside the head), and the brain
    starts where the signal returns. A ray without such a ring within 8 % of the image size
    takes the edge minus 4.5 % (scalp and skull). The radii are median-filtered over 15
    neighbouring angles. Good on the slices through the cerebrum; rough at the skull base.
    """
    head = np.asarray(head, bool)
    if not head.any():
        return head
    img = np.asarray(image, np.float32)
    cy, cx = ndimage.center_of_mass(head)
    step = 0.5
    radii = np.arange(0.0, max(img.shape), step)
    theta = np.linspace(0.0, 2 * np.pi, angles, endpoint=False)
    ys, xs = cy + np.sin(theta)[:, None] * radii, cx + np.cos(theta)[:, None] * radii
    profile = ndimage.map_coordinates(img, [ys, xs], order=1)
    on_head = ndimage.map_coordinates(head.astype(np.float32), [ys, xs], order=0) > 0.5
    u8 = (np.clip(img[head], 0, 1) * 255).astype(np.uint8).reshape(-1, 1)
    otsu, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = profile < otsu / 255.0 * 0.6
    scalp, ring = 0.045 * max(img.shape) / step, 0.08 * max(img.shape) / step

    def run_end(seq, start, value):
        """First index from ``start`` on where ``seq`` is no longer ``value`` (len if none)."""
        other = np.flatnonzero(seq[start:] != value)
        return start + int(other[0]) if other.size else len(seq)

    edge = np.array([np.flatnonzero(row)[-1] if row.any() else 0 for row in on_head])
    inward = np.empty(angles)
    for a in range(angles):
        seq = dark[a, : edge[a] + 1][::-1]           # from the head's edge towards the centre
        r = min(run_end(seq, 0, True), int(scalp))   # the blurred edge
        r = run_end(seq, r, False)                   # scalp
        r = run_end(seq, r, True)                    # skull (and CSF)
        inward[a] = r if r <= ring else scalp
    radius = ndimage.median_filter(edge - inward, size=15, mode="wrap") * step
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    angle = np.mod(np.arctan2(yy - cy, xx - cx), 2 * np.pi) / (2 * np.pi) * angles
    limit = np.interp(angle, np.arange(angles + 1), np.append(radius, radius[0]))
    return head & (np.hypot(yy - cy, xx - cx) <= limit)


def stripped_mask(image: np.ndarray) -> np.ndarray:
    """``brain_mask`` of an image inside its ``head_mask``."""
    return brain_mask(image, head_mask(image))


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


# ----------------------------------------------------------------------------- recorded preprocessing
#: what a reader did to 2-D slices, as recorded in a run's model.json ("preprocessing") and
#: applied again by synthesis: "normalisation" robust (per subject and sequence: p0.5 inside the
#: masks -> 0, median -> 0.35, clipped) or unit (stored values / type range), "mask" stripped
#: (``stripped_mask`` of the mean of the sequences, zero outside), nonzero (skull-stripped inputs:
#: the mean's non-zero pixels) or head (``head_mask``, the outside kept)
PREPROCESSING_DEFAULT = {"normalisation": "unit", "mask": "head"}


def slice_mask(mean_image: np.ndarray, preprocessing: dict) -> np.ndarray:
    """The mask ``preprocessing["mask"]`` names of a slice's mean over its sequences."""
    kind = preprocessing["mask"]
    if kind == "nonzero":
        return mean_image > 0
    return stripped_mask(mean_image) if kind == "stripped" else head_mask(mean_image)


def scale_channels(units: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
    """Each channel of one subject's slices [H, W, C] robust-scaled over the pixels inside their masks."""
    out = [np.empty_like(u) for u in units]
    for c in range(units[0].shape[2]):
        inside = np.concatenate([u[..., c][m] for u, m in zip(units, masks)])
        if not inside.size:
            inside = np.concatenate([u[..., c].ravel() for u in units])
        lo, hi = robust_bounds(inside)
        for u, o in zip(units, out):
            o[..., c] = np.clip((u[..., c] - lo) / (hi - lo), 0.0, 1.0)
    return out


def prepare_slices(units: list[np.ndarray], masks: list[np.ndarray], preprocessing: dict) -> list[np.ndarray]:
    """One subject's slices [H, W, C] in [0, 1] with their masks, preprocessed as recorded."""
    if preprocessing["normalisation"] == "robust":
        units = scale_channels(units, masks)
    if preprocessing["mask"] == "stripped":
        units = [unit * mask[..., None] for unit, mask in zip(units, masks)]
    return units
