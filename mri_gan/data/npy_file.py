"""Checks of a NumPy file (.npy, .npz) before its arrays are read: the size each array's header
claims, against the bytes that follow it and against ``MAX_ARRAY_BYTES`` (NumPy allocates the
claimed size before it reads, and a header of a few bytes can claim terabytes)."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from mri_gan.data.file_access import MAX_DEFLATE_RATIO

#: the most bytes one stored array may have (4 GiB); a header claiming more is refused unread
MAX_ARRAY_BYTES = 4 * 2 ** 30


def _claim_problem(stream, available: int) -> str | None:
    """What is wrong with the header at the start of ``stream``, followed by ``available`` bytes
    in all; ValueError for a stream without one."""
    version = np.lib.format.read_magic(stream)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(stream)
    claimed = math.prod(shape) * dtype.itemsize
    left = available - stream.tell()
    what = f"its header claims a {'x'.join(map(str, shape))} {dtype} array ({claimed} bytes)"
    if claimed > MAX_ARRAY_BYTES:
        return f"{what}, more than the {MAX_ARRAY_BYTES} (4 GiB) an array may have"
    if claimed > left:
        return f"{what}; only {max(left, 0)} bytes follow it (truncated)"
    return None


def size_problem(path) -> str | None:
    """What is wrong with the sizes the arrays of a .npy or .npz file claim; None when they fit.
    Raises ValueError or zipfile.BadZipFile for a file that is neither."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as stream:
            return _claim_problem(stream, path.stat().st_size)
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            available = info.file_size
            if info.compress_type == zipfile.ZIP_DEFLATED:
                available = min(available, info.compress_size * MAX_DEFLATE_RATIO)
            with archive.open(info) as stream:
                problem = _claim_problem(stream, available)
            if problem:
                return f"{info.filename[:-4]}: {problem}"
    return None
