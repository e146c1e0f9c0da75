"""A data source read into memory: every slice preprocessed to one size, in model range.

The corpora this project targets (a few thousand slices) fit in memory at 128 or 256 pixels,
so training, evaluation and balancing all work from one :class:`SliceSet`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mri_gan.data import context, preprocess
from mri_gan.data.reader import Reader
from mri_gan.data.records import SEQUENCES, Record, binary_label
from mri_gan.data.source import open_source
from mri_gan.errors import UserError


@dataclass
class SliceSet:
    """Arrays over N slices. Channels follow ``SEQUENCES``; missing sequences are zeros."""

    images: np.ndarray        # [N, H, W, 4] float32 in [-1, 1]
    available: np.ndarray     # [N, 4] bool
    labels: np.ndarray        # [N] int32 index into label_names, -1 when unlabelled
    label_names: list[str]
    subjects: np.ndarray      # [N] str
    slice_index: np.ndarray   # [N] int32
    brain_mask: np.ndarray    # [N, H, W] bool
    tumor_mask: np.ndarray    # [N, H, W] bool (all False where the source has none)
    has_tumor_mask: np.ndarray  # [N] bool
    source: str
    kind: str

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> int:
        return self.images.shape[1]

    def subset(self, index) -> SliceSet:
        """The slices selected by a boolean mask or an index array."""
        return SliceSet(self.images[index], self.available[index], self.labels[index], self.label_names,
                        self.subjects[index], self.slice_index[index], self.brain_mask[index],
                        self.tumor_mask[index], self.has_tumor_mask[index], self.source, self.kind)

    def of_subjects(self, subjects) -> SliceSet:
        return self.subset(np.isin(self.subjects, list(subjects)))

    def channels(self, sequences, index=None) -> np.ndarray:
        """Images of the named sequences as channels: [N, H, W, len(sequences)] (rows ``index``)."""
        images = self.images if index is None else self.images[index]
        return images[..., [SEQUENCES.index(s) for s in sequences]]

    def neighbours(self, k: int) -> np.ndarray:
        """[N, 2k] rows of each slice's axial neighbours in its subject (``context.neighbour_rows``)."""
        return context.neighbour_rows(self.subjects, self.slice_index, k)

    def with_context(self, k: int, index=None) -> np.ndarray:
        """Images of rows ``index`` (all when None) with the channels of ``k`` axial neighbours on
        each side appended (``context.with_context``): a 2.5-D model's input slices."""
        if not k:
            return self.images if index is None else self.images[index]
        return context.with_context(self.images, self.neighbours(k), index)

    def has(self, sequences) -> np.ndarray:
        """[N] bool: slices that have every one of the named sequences."""
        return self.available[:, [SEQUENCES.index(s) for s in sequences]].all(axis=1)

    def binary_labels(self) -> tuple[np.ndarray, list[str]]:
        """Labels in the tumor / no_tumor view: (indices, ["no_tumor", "tumor"])."""
        names = ["no_tumor", "tumor"]
        mapped = np.array([names.index(binary_label(self.label_names[i])) if i >= 0 else -1
                           for i in self.labels], np.int32)
        return mapped, names


def from_records(records, size: int, source: str = "", kind: str = "") -> SliceSet:
    """Preprocess records (resize, [-1, 1]) into a SliceSet."""
    images, available, labels, subjects, index, brain, tumor, has_tumor = [], [], [], [], [], [], [], []
    label_names: list[str] = []
    for rec in records:
        rec: Record
        stack = np.zeros((size, size, len(SEQUENCES)), np.float32) - 1.0
        have = np.zeros(len(SEQUENCES), bool)
        for name, img in rec.images.items():
            c = SEQUENCES.index(name)
            stack[..., c] = preprocess.to_model_range(preprocess.resize_image(img, size))
            have[c] = True
        stack[..., ~have] = 0.0
        images.append(stack)
        available.append(have)
        if rec.label is not None and rec.label not in label_names:
            label_names.append(rec.label)
        labels.append(rec.label)
        subjects.append(rec.subject)
        index.append(rec.slice_index)
        brain.append(preprocess.resize_mask(rec.brain_mask, size))
        tumor.append(preprocess.resize_mask(rec.tumor_mask, size) if rec.tumor_mask is not None
                     else np.zeros((size, size), bool))
        has_tumor.append(rec.tumor_mask is not None)
    if not images:
        raise UserError(source, "no readable slices")
    label_names = sorted(label_names)
    label_index = np.array([label_names.index(name) if name is not None else -1 for name in labels], np.int32)
    return SliceSet(np.stack(images), np.stack(available), label_index, label_names,
                    np.array(subjects), np.array(index, np.int32), np.stack(brain), np.stack(tumor),
                    np.array(has_tumor), source, kind)


def load(source: str, size: int = 128, strict: bool = False) -> tuple[SliceSet, Reader]:
    """Read a data source string into a SliceSet; also return the reader (for its skip counts)."""
    reader = open_source(source, strict=strict)
    return from_records(reader.records(), size, source=source, kind=reader.kind), reader
