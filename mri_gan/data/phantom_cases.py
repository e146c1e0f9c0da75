"""Phantom subjects as NIfTI case folders with BraTS names (`mri-gan data phantom`), so that
synthesize, fill and evaluate can be tried on whole volumes without any download.

Case ``phantom-<i>`` is subject i of the source ``phantom?subjects=N&seed=S`` (the same anatomy,
contrast and tumour, rendered as a whole volume at ``size`` voxels in-plane):
``OUT/phantom-<i>/phantom-<i>_{t1,t1ce,t2,flair,seg}.nii.gz`` (raw scanner-like intensities,
BraTS labels 0/1/2/4 in ``_seg``).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib

from mri_gan.atomic import atomic_folder
from mri_gan.data.phantom import PhantomReader, build_phantom, phantom_volume
from mri_gan.errors import UserError

MAX_SUBJECTS = 1000


def _save(data, affine, path: Path) -> None:
    image = nib.Nifti1Image(data, affine)
    image.set_qform(affine, code=1)
    image.header.set_xyzt_units("mm")
    nib.save(image, path)


def write_cases(out, subjects: int = 2, seed: int = 0, size: int = 128, overwrite: bool = False,
                progress=None) -> list[Path]:
    """Write ``subjects`` phantom cases into the new folder ``out`` (all at once; an existing
    non-empty ``out`` is replaced only with ``overwrite``); returns the case folders.
    ``progress(i, n)`` is told after each case."""
    if not 1 <= subjects <= MAX_SUBJECTS:
        raise UserError("--subjects", f"{subjects} is outside 1..{MAX_SUBJECTS}")
    lo, hi = PhantomReader.LIMITS["size"]
    if not lo <= size <= hi:
        raise UserError("--size", f"{size} is outside {lo}..{hi}")
    lo, hi = PhantomReader.LIMITS["seed"]
    if not lo <= seed <= hi:
        raise UserError("--seed", f"{seed} is outside {lo}..{hi}")
    # the source's subjects: each one's seed and whether it has a tumour (one slice each is enough)
    drawn = build_phantom(subjects, seed, size=32, slices=1, cache=False)
    names = [f"phantom-{i:03d}" for i in range(subjects)]
    with atomic_folder(out, overwrite) as tmp:
        for i, name in enumerate(names):
            volume = phantom_volume(int(drawn["phantom_seed"][i]), bool(drawn["subject_tumor"][i]), size)
            (tmp / name).mkdir()
            for key, data in {**volume["images"], "seg": volume["segmentation"]}.items():
                _save(data, volume["affine"], tmp / name / f"{name}_{key}.nii.gz")
            if progress is not None:
                progress(i + 1, subjects)
    return [Path(out) / name for name in names]
