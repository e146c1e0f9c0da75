"""2.5-D input: each axial slice with the images of its neighbours as extra channels.

A model with ``context`` k reads, per slice, the slice's own channels followed by those of the
slices at offsets -k .. -1, +1 .. +k of the same subject (``OFFSETS``: 2k blocks, each with the
slice's channels in the same order). Offset d is the slice d places away in the subject's slices
sorted by index; beyond the first or the last slice the nearest one repeats (an edge slice is its
own neighbour), as a gap left by a dropped near-empty slice is bridged by the next one.

Channel layout, k neighbours on each side (C channels per slice):

| context k | slices read | channels of ``with_context`` |
|---|---|---|
| 0 | 1 | C |
| 1 | 3 | 3 C |
| 2 | 5 | 5 C |
| k | 2k + 1 | (2k + 1) C |
"""

from __future__ import annotations

import numpy as np

from mri_gan.errors import UserError


def offsets(k: int) -> list[int]:
    """The neighbours' offsets in channel-block order: -k .. -1, +1 .. +k."""
    return [d for d in range(-k, k + 1) if d]


def neighbour_rows(subjects, slice_index, k: int) -> np.ndarray:
    """[N, 2k] int64: per row, the rows of its ``offsets(k)`` neighbours within the same subject
    (rows sharing ``subjects``, ordered by ``slice_index``), clamped at the subject's ends."""
    subjects, slice_index = np.asarray(subjects), np.asarray(slice_index)
    out = np.zeros((len(subjects), 2 * k), np.int64)
    for subject in np.unique(subjects):
        rows = np.flatnonzero(subjects == subject)
        order = rows[np.argsort(slice_index[rows], kind="stable")]
        place = np.arange(len(order))
        for j, d in enumerate(offsets(k)):
            out[order, j] = order[np.clip(place + d, 0, len(order) - 1)]
    return out


def with_context(images: np.ndarray, neighbours: np.ndarray, index=None) -> np.ndarray:
    """Rows ``index`` (all when None) of ``images`` [N, H, W, C] with their neighbours' channels
    appended: [n, H, W, (2k + 1) C] for ``neighbours`` [N, 2k] (``neighbour_rows``)."""
    index = np.arange(len(images)) if index is None else np.asarray(index)
    if index.dtype == bool:
        index = np.flatnonzero(index)
    rows = neighbours[index]
    return np.concatenate([images[index]] + [images[rows[:, j]] for j in range(rows.shape[1])], axis=-1)


def block_channels(channels: list[int], per_slice: int, k: int) -> list[int]:
    """The input channels of ``channels`` (indices within one slice's ``per_slice`` channels) in
    every slice block of a ``with_context`` stack, the slice's own block first."""
    return [b * per_slice + c for b in range(2 * k + 1) for c in channels]


def check_depth(slices: int, k: int, where) -> None:
    """A UserError when ``slices`` axial slices are too few for a model reading ``k`` on each side."""
    if k and slices < 2 * k + 1:
        raise UserError(where, f"{slices} axial slice(s) with brain; this model reads {k} neighbouring "
                               f"slice(s) on each side and needs at least {2 * k + 1}")
