"""The record every reader yields, and canonical sequence names."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mri_gan.errors import UserError

SEQUENCES = ("t1", "t1ce", "t2", "flair")

ALIASES = {
    "t1": "t1", "t1n": "t1", "pre": "t1",
    "t1ce": "t1ce", "t1c": "t1ce", "t1gd": "t1ce", "post": "t1ce",
    "t2": "t2", "t2w": "t2",
    "flair": "flair", "t2f": "flair", "fla": "flair",
}

TUMOR, NO_TUMOR = "tumor", "no_tumor"
NO_TUMOR_NAMES = {"no", "notumor", "no_tumor", "no-tumor", "healthy", "normal", "negative"}


def canonical_sequence(name: str, where: str = "sequence") -> str:
    """Map a sequence name or alias (any case) to t1 / t1ce / t2 / flair."""
    key = str(name).strip().lower()
    if key not in ALIASES:
        raise UserError(where, f"unknown sequence name {name!r} (known: {', '.join(SEQUENCES)} "
                               f"and aliases {', '.join(sorted(set(ALIASES) - set(SEQUENCES)))})")
    return ALIASES[key]


def binary_label(label: str | None) -> str | None:
    """The tumor / no_tumor view of a source label."""
    if label is None:
        return None
    return NO_TUMOR if label.lower() in NO_TUMOR_NAMES else TUMOR


@dataclass
class Record:
    """One 2-D slice of one subject, as every reader yields it.

    ``images`` maps canonical sequence names to 2-D float32 arrays scaled to [0, 1] by the
    reader (8-bit files / 255, volumes by ``preprocess.robust_scale`` inside the brain). All images and
    masks of a record share one shape.
    """

    subject: str
    slice_index: int
    images: dict[str, np.ndarray]
    label: str | None
    brain_mask: np.ndarray
    tumor_mask: np.ndarray | None
    source_file: str
    extra: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return next(iter(self.images.values())).shape
