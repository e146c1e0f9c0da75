"""``slices``: multi-channel 2-D slices with a channel -> sequence map and optional tumour masks.

Layout (the LGG set): ``<subject>/<subject>_<k>.<ext>`` with ``<subject>_<k>_mask.<ext>`` beside
it; subject = the slice's folder, slice index = the trailing number ``k``. ``?channels=`` names
the sequence of each channel in the file's RGB order (default ``t1,flair,t1ce``, the LGG
pre-contrast / FLAIR / post-contrast; ``-`` leaves a channel out); OpenCV's BGR order is
undone on reading. A channel that is an exact copy of another over all slices of a subject is
a missing sequence there (the source filled a gap with it): of the identical channels FLAIR is
kept, or else the first; ``reader.missing`` lists what each subject lacks. Masks (``?masks=0``
ignores them) are tumour where > half range; they give the label tumor / no_tumor per slice.
The LGG slices still have their skull. The reader strips it so that models trained here meet
inputs like the skull-stripped volumes (BraTS) they are applied to: the brain mask is
``preprocess.stripped_mask`` of the mean of the channels (cached on disk, see mask_cache) and
every channel is zero outside it. ``?strip=0`` keeps the head: the mask is then
``preprocess.head_mask``. Each channel of a subject is rescaled like the volume readers do
(``preprocess.robust_bounds`` over the pixels inside the subject's masks: p0.5 -> 0, median -> 0.35),
so one subject's FLAIR is on the same scale as another's; ``?normalise=0`` keeps the stored
values / 255.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from mri_gan.data.file_reader import FileReader, flag
from mri_gan.data.images import UnreadableFile, read_rgb, to_unit
from mri_gan.data.mask_cache import MaskCache
from mri_gan.data.preprocess import head_mask, prepare_slices, stripped_mask
from mri_gan.data.reader import IMAGE_SUFFIXES
from mri_gan.data.records import NO_TUMOR, TUMOR, Record, canonical_sequence
from mri_gan.errors import UserError

MASK_SUFFIX = "_mask"
_NUMBER = re.compile(r"(\d+)$")


def copied_channels(stack: np.ndarray, names: list[str]) -> list[str]:
    """Sequences whose channel equals another channel in every slice of ``stack`` (N, H, W, C).

    Of a group of identical channels FLAIR is kept (sources fill missing sequences with it),
    otherwise the first; the others are returned.
    """
    copies: list[str] = []
    for i in range(len(names)):
        group = [j for j in range(len(names)) if np.array_equal(stack[..., i], stack[..., j])]
        if len(group) > 1:
            keep = next((j for j in group if names[j] == "flair"), group[0])
            if i != keep:
                copies.append(names[i])
    return copies


class SlicesReader(FileReader):
    kind = "slices"
    OPTIONS = {"channels": (str, "t1,flair,t1ce"), "masks": (flag, True), "normalise": (flag, True),
               "strip": (flag, True)}

    @classmethod
    def can_read(cls, path: Path, files: list[Path]) -> bool:
        """A folder holding masks (``*_mask.png``, ``*_mask.tif``) beside its slices."""
        return path.is_dir() and any(f.name.lower().endswith(("_mask.png", "_mask.tif")) for f in files)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_map = [None if c.strip() == "-" else canonical_sequence(c, where=self.source)
                            for c in self.options["channels"].split(",")]
        self.named = [(i, c) for i, c in enumerate(self.channel_map) if c]
        if not self.named or len({c for _, c in self.named}) != len(self.named):
            raise UserError(self.source, "channels= must name each sequence at most once ('-' for unused)")
        #: subject -> sequences it lacks (channels found to be copies of another)
        self.missing: dict[str, list[str]] = {}

    def _subjects(self) -> dict[Path, list[tuple[int, Path, Path | None]]]:
        """Folder -> [(slice index, image file, mask file or None)] sorted by index.

        The index is the number that ends the file name, or else the position in name order.
        """
        files = self.files()
        images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            raise UserError(self.path, "no image files" + ("" if self.path.is_file()
                                                          else f" among {len(files)} file(s)"))
        self.ignore(len(files) - len(images), "not an image")
        masks = {f.with_name(f.stem[: -len(MASK_SUFFIX)]): f for f in images if f.stem.endswith(MASK_SUFFIX)}
        slices = [f for f in images if not f.stem.endswith(MASK_SUFFIX)]
        for stem in set(masks) - {f.with_suffix("") for f in slices}:
            self.reject(masks[stem], "mask without its image")
        by_folder: dict[Path, list] = defaultdict(list)
        for f in slices:
            number = _NUMBER.search(f.stem)
            by_folder[f.parent].append((int(number.group(1)) if number else None, f,
                                        masks.get(f.with_suffix("")) if self.options["masks"] else None))
        for folder, found in by_folder.items():
            found.sort(key=lambda s: (s[0] is None, s[0] or 0, s[1].name))
            by_folder[folder] = [(k if k is not None else pos, f, m) for pos, (k, f, m) in enumerate(found)]
        return by_folder

    def _read(self, file: Path, mask_file: Path | None):
        """(pixels (H, W, C) as stored, tumour mask or None) of one slice, checked."""
        pixels = read_rgb(file)
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        if pixels.shape[2] != len(self.channel_map):
            raise UnreadableFile(f"{pixels.shape[2]} channel(s), but channels= names {len(self.channel_map)}")
        if mask_file is None:
            return pixels, None
        try:
            mask = read_rgb(mask_file)
        except UnreadableFile as err:
            raise UnreadableFile(f"its mask {mask_file.name}: {err}") from None
        if mask.ndim == 3:
            mask = mask.max(axis=2)
        if mask.shape != pixels.shape[:2]:
            raise UnreadableFile(f"mask {mask_file.name} is {mask.shape[1]}x{mask.shape[0]}, "
                                 f"the image {pixels.shape[1]}x{pixels.shape[0]}")
        return pixels, mask > (np.iinfo(mask.dtype).max // 2 if mask.dtype.kind in "ui" else 0.5)

    def preprocessing(self) -> dict:
        return {"normalisation": "robust" if self.options["normalise"] else "unit",
                "mask": "stripped" if self.options["strip"] else "head"}

    def _try_read(self, item):
        index, file, mask_file = item
        try:
            return (index, file, *self._read(file, mask_file))
        except UnreadableFile as err:
            return file, err

    def records(self) -> Iterator[Record]:
        cache = MaskCache(self.root, self.kind, stripped_mask if self.options["strip"] else head_mask)
        count = 0
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # decoding PNGs releases the GIL
            for folder, slices in sorted(self._subjects().items()):
                rel = folder.relative_to(self.root).as_posix()
                subject = folder.absolute().name if rel == "." else rel
                loaded = []
                for result in pool.map(self._try_read, slices):
                    if isinstance(result[1], UnreadableFile):
                        self.reject(result[0], str(result[1]))
                    else:
                        self.note_size(result[1], result[2].shape)
                        loaded.append(result)
                if not loaded:
                    continue
                copies = []
                if len({p.shape for _, _, p, _ in loaded}) == 1:
                    stack = np.stack([p for _, _, p, _ in loaded])[..., [i for i, _ in self.named]]
                    copies = copied_channels(stack, [c for _, c in self.named])
                if copies:
                    self.missing[subject] = copies
                units = [to_unit(pixels) for _, _, pixels, _ in loaded]
                masks = [cache.get(file, unit.mean(axis=2)) for (_, file, _, _), unit in zip(loaded, units)]
                units = prepare_slices(units, masks, self.preprocessing())
                for (index, file, _, tumor), unit, mask in zip(loaded, units, masks):
                    yield Record(subject=subject, slice_index=index,
                                 images={c: np.ascontiguousarray(unit[..., i])
                                         for i, c in self.named if c not in copies},
                                 label=None if tumor is None else (TUMOR if tumor.any() else NO_TUMOR),
                                 brain_mask=mask, tumor_mask=tumor, source_file=str(file))
                    count += 1
        cache.save()
        self.require(count, "slices")
