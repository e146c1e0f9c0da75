"""``numpy``: image arrays in .npy / .npz files (the paper's storage), optional labels.

Arrays are (N, H, W) or (N, H, W, C), uint8 in [0, 255] (divided by 255) or float in [0, 1]
(kept) or [-1, 1] (as ``mri-gan generate`` writes, mapped to [0, 1]). In a ``.npz`` the images
are the array named by ``?images=`` (default ``images``, ``x``, ``X`` or the only array of 3 or
more dimensions); labels the one named by ``?labels=`` (default ``labels``, ``y`` or ``Y``) when
present, integer labels named through a ``label_names`` array when there is one. In a folder,
each .npy / .npz file is read, and a file without labels is labelled by its name (class-wise
storage such as ``glioma.npy``, ``notumor.npy``). A single-channel array goes to ``?sequence=``
(default ``t1``); three channels are RGB, taken as luminance, unless ``?channels=t1,t2,flair``
maps each channel to a sequence. Each image is its own subject, ``<file stem>/<row>``, unless
the file holds a ``subjects`` array. Brain masks are ``preprocess.head_mask``.
"""

from __future__ import annotations

import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from mri_gan.data import npy_file
from mri_gan.data.file_access import os_reason
from mri_gan.data.file_reader import FileReader
from mri_gan.data.images import UnreadableFile, check_readable
from mri_gan.data.mask_cache import MaskCache
from mri_gan.data.records import Record, canonical_sequence
from mri_gan.errors import UserError

SUFFIXES = (".npy", ".npz")


def _unit(images: np.ndarray) -> np.ndarray:
    """Pixels -> float32 [0, 1] by the storage conventions above."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) * np.float32(1 / 255)
    if not np.issubdtype(images.dtype, np.floating):
        raise UnreadableFile(f"unsupported pixel type {images.dtype} (expected uint8 in [0, 255] "
                             "or float in [0, 1] or [-1, 1])")
    images = images.astype(np.float32)
    if not np.isfinite(images).all():
        raise UnreadableFile("contains NaN or infinite values")
    lo, hi = float(images.min()), float(images.max())
    if lo >= 0 and hi <= 1:
        return images
    if lo >= -1 and hi <= 1:
        return (images + 1) / 2
    raise UnreadableFile(f"float values in [{lo:.3g}, {hi:.3g}], outside [0, 1] and [-1, 1]")


class NumpyReader(FileReader):
    kind = "numpy"
    OPTIONS = {"images": (str, ""), "labels": (str, ""), "sequence": (str, "t1"), "channels": (str, "")}

    @classmethod
    def can_read(cls, path: Path, files: list[Path]) -> bool:
        return any(f.name.lower().endswith((".npy", ".npz")) for f in files)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sequence = canonical_sequence(self.options["sequence"], where=self.source)
        self.channels = [canonical_sequence(c, where=self.source)
                         for c in self.options["channels"].split(",") if c]
        if len(set(self.channels)) != len(self.channels):
            raise UserError(self.source, "a sequence appears twice in channels=")

    def _arrays(self, file: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(images, labels or None, subjects or None) of one file, checked."""
        check_readable(file)
        try:
            if file.stat().st_size == 0:
                raise UnreadableFile("empty file (0 bytes)")
            problem = npy_file.size_problem(file)
            if problem:
                raise UnreadableFile(problem)
            loaded = np.load(file, allow_pickle=False)
            if isinstance(loaded, np.ndarray):
                return loaded, None, None
            with loaded:
                names = list(loaded.keys())
                images = self._pick(names, self.options["images"], ("images", "x", "X"), loaded)
                label_key = next((k for k in ((self.options["labels"],) if self.options["labels"]
                                              else ("labels", "y", "Y")) if k in names), None)
                if self.options["labels"] and label_key is None:
                    raise UnreadableFile(f"no array {self.options['labels']!r} (arrays: {', '.join(names)})")
                labels = loaded[label_key] if label_key else None
                if labels is not None and "label_names" in names and np.issubdtype(labels.dtype, np.integer):
                    labels = loaded["label_names"][labels]
                if labels is not None and labels.dtype.kind == "S":
                    labels = labels.astype(str)
                subjects = loaded["subjects"] if "subjects" in names else None
                return images, labels, subjects
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, IndexError) as err:
            if "Object arrays" in str(err):
                raise UnreadableFile("holds Python objects (pickled arrays are not loaded)") from None
            if isinstance(err, OSError) and err.errno is not None:
                raise UnreadableFile(os_reason(err)) from None
            raise UnreadableFile("not a readable NumPy file (corrupt or truncated)") from None

    @staticmethod
    def _pick(names, wanted, defaults, loaded) -> np.ndarray:
        if wanted:
            if wanted not in names:
                raise UnreadableFile(f"no array {wanted!r} (arrays: {', '.join(names)})")
            return loaded[wanted]
        for key in defaults:
            if key in names:
                return loaded[key]
        candidates = [k for k in names if loaded[k].ndim >= 3]
        if len(candidates) != 1:
            raise UnreadableFile(f"cannot tell which array holds the images (arrays: {', '.join(names)}); "
                                 "name it with ?images=")
        return loaded[candidates[0]]

    def _sequences(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Split (N, H, W[, C]) float images into {sequence: (N, H, W)}."""
        if images.ndim == 3:
            images = images[..., None]
        channels = images.shape[-1]
        if self.channels:
            if channels != len(self.channels):
                raise UnreadableFile(f"{channels} channel(s), but channels= names {len(self.channels)}")
            return {seq: images[..., i] for i, seq in enumerate(self.channels)}
        if channels == 1:
            return {self.sequence: images[..., 0]}
        if channels == 3:
            return {self.sequence: np.stack([cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in images])}
        raise UnreadableFile(f"{channels} channels: map them to sequences with ?channels=")

    def records(self) -> Iterator[Record]:
        files = self.files()
        arrays = [f for f in files if f.name.lower().endswith(SUFFIXES)]
        if not arrays:
            raise UserError(self.path, "no .npy or .npz files" + ("" if self.path.is_file()
                                                                  else f" among {len(files)} file(s)"))
        self.ignore(len(files) - len(arrays), "not a NumPy file")
        masks = MaskCache(self.root, self.kind)
        count = 0
        for file in arrays:
            try:
                images, labels, subjects = self._arrays(file)
                if images.ndim not in (3, 4) or min(images.shape[:3]) == 0:
                    raise UnreadableFile(f"array of shape {images.shape} is not images (N, H, W[, C])")
                n = len(images)
                for name, extra in (("labels", labels), ("subjects", subjects)):
                    if extra is not None and extra.shape != (n,):
                        raise UnreadableFile(f"{name} of shape {extra.shape} for {n} images")
                by_sequence = self._sequences(_unit(np.asarray(images)))
            except UnreadableFile as err:
                self.reject(file, str(err))
                continue
            self.note_size(file, images.shape[1:])
            rel = file.relative_to(self.root)
            stem = rel.as_posix()[: -len(file.suffix)]
            if labels is None and self.path.is_dir():
                labels = np.full(n, file.stem)
            reference = next(iter(by_sequence.values()))
            seen: Counter = Counter()
            for i in range(n):
                subject = str(subjects[i]) if subjects is not None else f"{stem}/{i}"
                seen[subject] += 1
                yield Record(subject=subject, slice_index=seen[subject] - 1,
                             images={seq: stack[i] for seq, stack in by_sequence.items()},
                             label=None if labels is None else str(labels[i]),
                             brain_mask=masks.get(file, reference[i], i), tumor_mask=None,
                             source_file=str(file))
                count += 1
        masks.save()
        self.require(count, "images")
