"""Head (or brain) masks of a source's 2-D images, computed once and kept on disk.

``preprocess.head_mask`` costs a few milliseconds per image: most of reading a folder of
JPEGs (``preprocess.stripped_mask`` about 20). The masks of sources with at least
``MIN_FILES`` images are stored bit-packed in one ``.npz`` per source and mask function under
``cache_dir()``, keyed by each file's relative path, size and modification time and by the
source code of the preprocess module, so an edited file or an edited mask function is
recomputed. A missing, stale or unwritable cache only costs time.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import zipfile
from pathlib import Path

import numpy as np

from mri_gan.atomic import atomic_file
from mri_gan.data import preprocess
from mri_gan.errors import UserError

#: sources with fewer images are fast enough without a cache (and leave no cache files behind)
MIN_FILES = 100


def cache_dir() -> Path:
    """``$MRI_GAN_CACHE/masks``, or ``~/.cache/mri_gan/masks`` (beside the phantom's cache)."""
    root = os.environ.get("MRI_GAN_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "mri_gan") / "masks"


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


class MaskCache:
    """``get(file, image[, part])`` is ``compute(image)``, from disk when the file is unchanged.

    ``compute`` is a mask function of ``preprocess``; ``part`` tells apart several images of
    one file (e.g. the rows of an array file).
    """

    def __init__(self, root: Path, tag: str, compute=preprocess.head_mask):
        self.root = Path(root).absolute()
        self.compute = compute
        version = f"{compute.__name__}\0{inspect.getsource(preprocess)}"
        key = hashlib.sha1(f"{self.root.resolve()}\0{tag}\0{version}".encode()).hexdigest()[:20]
        self.file = cache_dir() / f"{tag}-{key}.npz"
        self.stored: dict[str, tuple] = {}
        self.entries: dict[str, tuple] = {}
        self.computed = 0
        self._load()

    def _load(self) -> None:
        try:
            with np.load(self.file) as z:
                names, stamps, shapes, offsets, bits = (z["names"], z["stamps"], z["shapes"],
                                                        z["offsets"], z["bits"])
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            return
        for i, name in enumerate(names):
            self.stored[str(name)] = (tuple(stamps[i]), tuple(shapes[i]), bits[offsets[i]:offsets[i + 1]])

    def get(self, file: Path, image: np.ndarray, part: int | None = None) -> np.ndarray:
        name = os.path.relpath(Path(file).absolute(), self.root) + ("" if part is None else f"#{part}")
        stamp = _stamp(Path(file))
        hit = self.stored.get(name)
        if hit is not None and hit[0] == stamp and hit[1] == image.shape:
            packed = hit[2]
            mask = np.unpackbits(packed, count=image.shape[0] * image.shape[1]).reshape(image.shape)
            mask = mask.astype(bool)
        else:
            mask = self.compute(image)
            packed = np.packbits(mask)
            self.computed += 1
        self.entries[name] = (stamp, image.shape, packed)
        return mask

    def save(self) -> None:
        """Write the masks seen in this pass when any had to be computed (atomic; errors ignored)."""
        if not self.computed or len(self.entries) < MIN_FILES:
            return
        names = sorted(self.entries)
        sizes = np.cumsum([0] + [self.entries[n][2].size for n in names])
        try:
            with atomic_file(self.file, overwrite=True) as tmp:
                np.savez(tmp, names=np.array(names), offsets=sizes,
                         stamps=np.array([self.entries[n][0] for n in names], np.int64),
                         shapes=np.array([self.entries[n][1] for n in names], np.int64),
                         bits=np.concatenate([self.entries[n][2] for n in names]))
        except (OSError, UserError):
            pass
