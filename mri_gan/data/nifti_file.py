"""Checks of a NIfTI file before its voxels are read: the compression its name promises, and the
size its header claims, against the file and against ``MAX_VOXELS`` (a header of a few bytes can
claim gigabytes)."""

from __future__ import annotations

import math
from pathlib import Path

from mri_gan.data.file_access import MAX_DEFLATE_RATIO

#: the most voxels a volume may have (512 x 512 x 512); a header claiming more is refused unread
MAX_VOXELS = 512 ** 3


def _gzipped(path: Path) -> tuple[bool, bool]:
    """(whether the file is gzip-compressed, whether it starts like an uncompressed NIfTI header)."""
    with open(path, "rb") as f:
        head = f.read(4)
    header_sizes = (348, 540)  # sizeof_hdr of NIfTI-1 and NIfTI-2, in either byte order
    return head[:2] == b"\x1f\x8b", any(int.from_bytes(head, order) in header_sizes for order in ("little", "big"))


def naming_problem(path) -> str | None:
    """What is wrong when a file's compression does not match its name (.nii.gz: gzip; .nii: none)."""
    path = Path(path)
    gzipped, plain_nifti = _gzipped(path)
    if path.name.lower().endswith(".gz") and not gzipped:
        return ("an uncompressed NIfTI file named .nii.gz: rename it .nii" if plain_nifti
                else "not gzip-compressed, which a .nii.gz file is")
    if not path.name.lower().endswith(".gz") and gzipped:
        return "a gzip-compressed file named .nii: rename it .nii.gz"
    return None


def size_problem(path, proxy) -> str | None:
    """What is wrong with the size a header claims (``proxy``: nibabel's ArrayProxy of the file)."""
    path = Path(path)
    voxels = math.prod(proxy.shape)
    shape = "x".join(map(str, proxy.shape))
    if voxels > MAX_VOXELS:
        return f"its header claims {shape} voxels, more than the {MAX_VOXELS} (512^3) a volume may have"
    needed = proxy.offset + voxels * proxy.dtype.itemsize
    size = path.stat().st_size
    if path.name.lower().endswith(".gz"):
        if size * MAX_DEFLATE_RATIO < needed:
            return (f"its header claims {shape} voxels ({needed} bytes), more than its {size} "
                    f"compressed bytes can hold (truncated or corrupt)")
    elif size < needed:
        return f"its header claims {shape} voxels ({needed} bytes with the header); the file has {size} (truncated)"
    return None
