"""``brats``: case folders of NIfTI volumes -> axial slices; helpers shared with volume synthesis.

File names: ``<case>_{t1,t1ce,t2,flair}`` (BraTS 2020) or ``<case>-{t1n,t1c,t2w,t2f}`` (BraTS
2023), either separator, any alias of records.ALIASES, ``.nii`` or ``.nii.gz``, both namings
even mixed in one folder; ``<case>_seg`` / ``<case>-seg`` is a tumour segmentation (labels > 0).
A file named only by its sequence (``t1n.nii.gz``) belongs to the case named by its folder.
PATH may be one NIfTI file, one case folder, a folder of case folders or a flat folder of
several cases' files. Subject = case.

Per case: the brain mask is the union of non-zero voxels over the sequences when the volumes
are skull-stripped (zero background; less than 70 % of the voxels non-zero), otherwise
``preprocess.head_mask`` per axial slice. Each volume is scaled with
``preprocess.robust_scale`` inside that mask (p0.5 -> 0, median -> 0.35, clipped to [0, 1]; the
bounds are kept in ``record.extra["bounds"]``); the background of skull-stripped volumes is 0.
Slices whose brain mask covers less than ``preprocess.MIN_BRAIN_FRACTION`` (2 %) of the slice
are dropped as near-empty. Slices are
axial, in RAS order from inferior to superior, shown anterior up and patient's right on the
image left (radiological convention). Cases with missing sequences are kept; ``reader.missing``
maps each such case to the sequences it lacks. Labels exist only with a segmentation: tumor
where the slice holds tumour voxels, no_tumor elsewhere.
"""

from __future__ import annotations

import os
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

from mri_gan.data import nifti_file, preprocess
from mri_gan.data.file_access import access_problem, os_reason
from mri_gan.data.file_reader import FileReader
from mri_gan.data.reader import NIFTI_SUFFIXES
from mri_gan.data.records import ALIASES, NO_TUMOR, SEQUENCES, TUMOR, Record, canonical_sequence
from mri_gan.errors import UserError

SEGMENTATION = "seg"
#: above this fraction of non-zero voxels a volume is taken as not skull-stripped
SKULL_STRIPPED_MAX_FRACTION = 0.7

_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError)


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def split_name(path: Path) -> tuple[str, str]:
    """(case, canonical sequence or "seg") from a NIfTI file name; UserError for unknown names."""
    name = path.name
    stem = name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else name[: -len(".nii")]
    cut = max(stem.rfind("_"), stem.rfind("-"))
    case, token = (stem[:cut], stem[cut + 1:]) if cut > 0 else (path.parent.absolute().name, stem)
    if token.lower() == SEGMENTATION:
        return case, SEGMENTATION
    if token.lower() not in ALIASES:
        canonical_sequence(token, where=str(path))  # raises with the list of known names
    return case, ALIASES[token.lower()]


def group_cases(files, reject) -> dict[tuple[Path, str], dict[str, Path]]:
    """NIfTI files grouped by (folder, case) into {sequence or "seg": file}.

    ``reject(file, reason)`` is called for a file with an unknown name or a second volume of
    a sequence already found; it may raise.
    """
    cases: dict[tuple[Path, str], dict[str, Path]] = {}
    for file in files:
        try:
            case, seq = split_name(file)
        except UserError as err:
            reject(file, err.problem)
            continue
        found = cases.setdefault((file.parent, case), {})
        if seq in found:
            reject(file, f"a second {seq} volume for case {case!r} (also {found[seq].name})")
            continue
        found[seq] = file
    return cases


def _raise(file, reason: str):
    raise UserError(file, reason)


def find_case_files(path_or_dir) -> dict[str, Path]:
    """The sequence volumes of one case: a case folder, or one NIfTI file -> {sequence: path}."""
    path = Path(path_or_dir)
    if not path.exists():
        raise UserError(path, "no such file or directory")
    if path.is_file():
        if not is_nifti(path):
            raise UserError(path, "not a NIfTI file (.nii or .nii.gz)")
        files = [path]
    else:
        files = sorted(p for p in path.iterdir() if p.is_file() and is_nifti(p))
        if not files:
            raise UserError(path, "no NIfTI volumes (.nii, .nii.gz) in this folder")
    cases = group_cases(files, _raise)
    if len(cases) > 1:
        raise UserError(path, f"holds {len(cases)} cases ({', '.join(sorted(c for _, c in cases))}); "
                              "give one case folder")
    found = next(iter(cases.values()))
    found.pop(SEGMENTATION, None)
    if not found:
        raise UserError(path, "holds a segmentation but no sequence volume")
    return {seq: found[seq] for seq in SEQUENCES if seq in found}


def load_volume(path, allow_zero: bool = False) -> tuple[np.ndarray, nib.Nifti1Image]:
    """A NIfTI volume as float32 (scaling applied) and its image; UserError when it is unusable.

    Refused: empty or unreadable files, compression other than the name says, anything but 3-D
    (trailing length-1 axes are dropped), a header claiming more voxels than the file holds or
    than ``nifti_file.MAX_VOXELS`` (checked before any voxel is read), NaN or infinite voxels,
    and all-zero volumes (unless ``allow_zero``, for segmentations).
    """
    path = Path(path)
    problem = access_problem(path)
    if problem:
        raise UserError(path, problem)
    if path.stat().st_size == 0:
        raise UserError(path, "empty file (0 bytes)")
    try:
        problem = nifti_file.naming_problem(path)
        if problem:
            raise UserError(path, problem)
        image = nib.load(path)
        shape = image.shape
        while len(shape) > 3 and shape[-1] == 1:
            shape = shape[:-1]
        if len(shape) != 3:
            raise UserError(path, f"not a 3-D volume (shape {'x'.join(map(str, image.shape))})")
        problem = nifti_file.size_problem(path, image.dataobj)
        if problem:
            raise UserError(path, problem)
        volume = np.asarray(image.dataobj, dtype=np.float32).reshape(shape)
    except _READ_ERRORS as err:
        raise UserError(path, f"not a readable NIfTI file ({_reason(err)})") from None
    if not np.isfinite(volume).all():
        raise UserError(path, "contains NaN or infinite voxels")
    if not allow_zero and not volume.any():
        raise UserError(path, "all voxels are zero")
    return volume, image


def _reason(err: Exception) -> str:
    if isinstance(err, OSError) and err.errno is not None:
        return os_reason(err)
    if isinstance(err, (EOFError, zlib.error)) or "compressed" in str(err).lower():
        return "truncated or corrupt data"
    if isinstance(err, nib.filebasedimages.ImageFileError):
        return "no NIfTI header"
    return "corrupt or truncated"


def odd_shapes(shapes: dict[str, tuple]) -> dict[str, str]:
    """{sequence: reason} for the volumes of a case whose shape differs from the most common one."""
    if not shapes:
        return {}
    common = Counter(shapes.values()).most_common(1)[0][0]
    return {seq: f"shape {'x'.join(map(str, s))} differs from the case's other sequences "
                 f"({'x'.join(map(str, common))})"
            for seq, s in shapes.items() if s != common}


def load_case(files: dict[str, Path]) -> tuple[dict[str, np.ndarray], nib.Nifti1Image]:
    """Every volume of one case (``find_case_files``), checked; the first one's image for its affine."""
    volumes, images = {}, {}
    for seq, file in files.items():
        volumes[seq], images[seq] = load_volume(file)
    for seq, reason in odd_shapes({s: v.shape for s, v in volumes.items()}).items():
        raise UserError(files[seq], reason)
    return volumes, next(iter(images.values()))


def _to_ras(affine) -> np.ndarray:
    return nib.orientations.ornt_transform(nib.io_orientation(affine), nib.orientations.axcodes2ornt("RAS"))


def axial_slices(volume: np.ndarray, affine) -> np.ndarray:
    """A volume (or mask) -> (slices, rows, cols): axial, inferior first, anterior up, right on the left."""
    ras = nib.orientations.apply_orientation(volume, _to_ras(affine))
    return np.ascontiguousarray(np.transpose(ras, (2, 1, 0))[:, ::-1, ::-1])


def volume_from_axial(slices: np.ndarray, affine) -> np.ndarray:
    """The inverse of ``axial_slices``: back to the array layout of the file with this affine."""
    ras = np.transpose(np.asarray(slices)[:, ::-1, ::-1], (2, 1, 0))
    back = nib.orientations.ornt_transform(nib.orientations.axcodes2ornt("RAS"), nib.io_orientation(affine))
    return np.ascontiguousarray(nib.orientations.apply_orientation(ras, back))


def brain_mask(volumes: dict[str, np.ndarray]) -> tuple[np.ndarray, bool]:
    """(union of the non-zero voxels of a case's volumes, whether they look skull-stripped)."""
    nonzero = np.zeros(next(iter(volumes.values())).shape, bool)
    for volume in volumes.values():
        nonzero |= volume != 0
    return nonzero, nonzero.mean() < SKULL_STRIPPED_MAX_FRACTION


class BratsReader(FileReader):
    kind = "brats"

    @classmethod
    def can_read(cls, path: Path, files: list[Path]) -> bool:
        return any(is_nifti(f) for f in files)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: case -> canonical sequences it lacks (kept, reported by `data inspect`)
        self.missing: dict[str, list[str]] = {}

    def preprocessing(self) -> dict:
        """Per volume and sequence robust scaling; skull-stripped volumes (the BraTS kind) zero
        outside the brain. A folder of 2-D slices exported from such volumes matches it."""
        return {"normalisation": "robust", "mask": "nonzero"}

    def _cases(self) -> list[tuple[str, dict[str, Path]]]:
        files = self.files()
        nifti = [f for f in files if is_nifti(f)]
        if not nifti:
            raise UserError(self.path, "no NIfTI volumes (.nii, .nii.gz)" + (
                "" if self.path.is_file() else f" among {len(files)} file(s)"))
        self.ignore(len(files) - len(nifti), "not a NIfTI file")
        cases = group_cases(nifti, self.reject)
        clash = Counter(case for _, case in cases)
        return [(case if clash[case] == 1 else f"{folder.relative_to(self.root).as_posix()}/{case}", found)
                for (folder, case), found in sorted(cases.items(), key=lambda kv: (kv[0][1], str(kv[0][0])))]

    def _load(self, files: dict[str, Path]) -> tuple[dict, dict]:
        """Volumes of one case that pass the checks, and their images; bad files rejected."""
        def attempt(item):
            seq, file = item
            try:
                return seq, load_volume(file, allow_zero=seq == SEGMENTATION)
            except UserError as err:
                return seq, err

        volumes, images = {}, {}
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # gzip inflation releases the GIL
            for seq, result in pool.map(attempt, files.items()):
                if isinstance(result, UserError):
                    self.reject(result.where, result.problem)
                else:
                    volumes[seq], images[seq] = result
        for seq, reason in odd_shapes({s: v.shape for s, v in volumes.items()}).items():
            self.reject(files[seq], reason)
            del volumes[seq], images[seq]
        return volumes, images

    def records(self) -> Iterator[Record]:
        count = 0
        for subject, files in self._cases():
            volumes, images = self._load(files)
            seg = volumes.pop(SEGMENTATION, None)
            images.pop(SEGMENTATION, None)
            if not volumes:
                if seg is not None:
                    self.reject(files[SEGMENTATION], "a segmentation without any sequence volume")
                continue
            affine = next(iter(images.values())).affine
            order = [seq for seq in SEQUENCES if seq in volumes]
            lacking = [seq for seq in SEQUENCES if seq not in volumes]
            if lacking:
                self.missing[subject] = lacking
            mask3d, stripped = brain_mask(volumes)
            scaled, bounds = {}, {}
            for seq in order:
                scaled[seq], bounds[seq] = preprocess.robust_scale(volumes[seq], mask3d if stripped else None)
                if stripped:
                    scaled[seq][~mask3d] = 0.0  # the background stays black below a negative bound
                scaled[seq] = axial_slices(scaled[seq], affine)
            if stripped:
                brain = axial_slices(mask3d, affine)
            else:
                mean = sum(scaled.values()) / len(scaled)
                brain = np.stack([preprocess.head_mask(s) for s in mean])
            tumor = axial_slices(seg > 0, affine) if seg is not None else None
            fraction = brain.mean(axis=(1, 2))
            for k in np.flatnonzero(fraction >= preprocess.MIN_BRAIN_FRACTION):
                label = None if tumor is None else (TUMOR if tumor[k].any() else NO_TUMOR)
                yield Record(subject=subject, slice_index=int(k), images={s: scaled[s][k] for s in order},
                             label=label, brain_mask=brain[k], tumor_mask=None if tumor is None else tumor[k],
                             source_file=str(files[order[0]]), extra={"bounds": bounds})
                count += 1
        self.require(count, "slices")
