"""Missing-sequence synthesis of whole cases: NIfTI volumes in -> NIfTI volume out, and a folder
of 2-D slices in -> a folder of PNGs out.

The network is behind one function, ``Translator.translate(images, available, target)``:
slices [N, S, S, 4] in [-1, 1] (``SEQUENCES`` order, zeros where missing; a 2.5-D model's with
its axial neighbours' channels after them, ``data.context``) and the [4] bool availability -> the
target [N, S, S] in [-1, 1]. A trained run gives one (``task_translator``),
an exported SavedModel can give another.

Volumes: a case is read with the ``brats`` reader's helpers and normalised as that reader
does (brain mask = union of non-zero voxels when skull-stripped, else per axial slice the skull
strip of a model whose reader stripped 2-D slices, or a head mask; each volume's brain p0.5 -> 0
and median -> 0.35, clipped to [0, 1]); its axial slices are resized to the model size,
each given with the neighbours a 2.5-D model reads (among the slices with brain, the edge ones
repeated), translated in batches, resized back to the original in-plane size and put back in the file's
array layout. Intensity rule: the target volume is missing, so
its scale is unknown; the synthesized [0, 1] is mapped back through the scale of the reference
input (the first given sequence in t1, t1ce, t2, flair order), which keeps the output in that
scanner's units. Voxels outside the brain mask are 0. The NIfTI keeps the reference input's
shape, affine, orientation codes and voxel sizes; it is float32 and says in its header
description what made it and the rule above. Files are written to a temporary sibling and
renamed.

Slices: ``seq=DIR`` pairs (or one DIR for a model with one source) of 2-D images with the same
relative names, taken as one subject and preprocessed as the model's training reader did (the
run's recorded ``preprocessing``: robust scaling per sequence, skull strip or head mask of the
mean image; 8-bit / 255 with a head mask for runs that recorded none), PNG outputs (uint8,
[0, 1] -> [0, 255], 0 outside the mask) under the same relative names. A 2.5-D model needs
volumes: 2-D slices carry no axial neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from mri_gan.atomic import atomic_file, atomic_folder, check
from mri_gan.data import context as slice_context
from mri_gan.data import preprocess
from mri_gan.data.brats import (
    axial_slices,
    brain_mask,
    find_case_files,
    is_nifti,
    load_case,
    load_volume,
    split_name,
    volume_from_axial,
)
from mri_gan.data.images import UnreadableFile, read_gray
from mri_gan.data.reader import IMAGE_SUFFIXES
from mri_gan.data.records import SEQUENCES, canonical_sequence
from mri_gan.errors import UserError

#: slices per call of ``translate``
BATCH = 32
#: test-time draws behind an uncertainty map (``translate_stack``)
SAMPLES = 8
#: NIfTI-1 header description field length
DESCRIPTION_BYTES = 80


@dataclass
class Translator:
    """A batch translation function and what synthesis needs to know about it."""

    #: (images [N, S, S, 4] in [-1, 1], available [4] bool, target) -> [N, S, S] in [-1, 1]
    translate: Callable[[np.ndarray, np.ndarray, str], np.ndarray]
    image_size: int
    #: the sequence of an input that does not name one (a model with one source), else None
    default_sequence: str | None
    #: short text for the header, e.g. "pix2pix t1->flair"
    name: str
    #: the sequences the model reads (others are not loaded), or None for any (imputation)
    sources: list[str] | None = None
    #: the 2-D preprocessing the model trained with (``preprocess.prepare_slices``; None: the
    #: ``folder`` reader's, 8-bit / 255 with a head mask)
    preprocessing: dict | None = None
    #: like ``translate``, one draw with the model's dropout on (None: a model without dropout)
    sample: Callable[[np.ndarray, np.ndarray, str], np.ndarray] | None = None
    #: the one sequence a translation model synthesizes, or None for any (imputation)
    target: str | None = None
    #: axial neighbours read on each side of a slice (2.5-D; 0: the slice alone)
    context: int = 0


def task_translator(task) -> Translator:
    """The Translator of a trained Pix2Pix task (``inference.load_task``)."""
    if not hasattr(task, "translate"):
        raise UserError("--run", f"a {task.cfg.model} run cannot synthesize sequences; "
                                 "train pix2pix (--target SEQ or --target any)")
    single = None if task.imputation or len(task.sources) != 1 else task.sources[0]
    name = ("pix2pix impute" if task.imputation else f"pix2pix {'+'.join(task.sources)}->{task.target}")
    sample = (lambda images, available, target: task.translate(images, available, target, sample=True)) \
        if getattr(task, "samples_dropout", False) else None
    return Translator(task.translate, task.cfg.image_size, single, name,
                      None if task.imputation else list(task.sources), task.meta.get("preprocessing"), sample,
                      None if task.imputation else task.target, task.context)


def ticking(translator: Translator, tick) -> Translator:
    """``translator`` calling ``tick()`` after each batch of slices it translates."""
    def wrap(translate):
        def call(*args):
            out = translate(*args)
            tick()
            return out
        return call

    return replace(translator, translate=wrap(translator.translate),
                   sample=None if translator.sample is None else wrap(translator.sample))


# ----------------------------------------------------------------------------- inputs

def _sequence_of(text: str) -> tuple[str | None, Path]:
    """``seq=path`` -> (canonical seq, path); a bare path -> (None, path)."""
    key, eq, value = text.partition("=")
    if eq and key and not Path(text).exists():
        return canonical_sequence(key, where="--input"), Path(value)
    return None, Path(text)


def parse_inputs(inputs: list[str], default_sequence: str | None) -> tuple[str, dict[str, Path]]:
    """("volume" or "slices", {sequence: path}) from the ``--input`` values.

    Accepted: one BraTS case folder; NIfTI files named by sequence (``<case>_t1.nii.gz``);
    one NIfTI or one image folder for a model with one source; ``seq=path`` pairs of NIfTI
    files or of image folders."""
    if not inputs:
        raise UserError("--input", "give a case folder, NIfTI files or seq=path pairs")
    found: dict[str, Path] = {}
    for text in inputs:
        seq, path = _sequence_of(text)
        if not path.exists():
            raise UserError(path, "no such file or directory")
        if seq is None and path.is_dir() and any(is_nifti(p) for p in path.iterdir()):
            if len(inputs) > 1:
                raise UserError(path, "give one case folder, or NIfTI files, not both")
            return "volume", find_case_files(path)
        if seq is None and path.is_file() and is_nifti(path):
            try:
                seq = split_name(path)[1]
            except UserError:
                if default_sequence is None or len(inputs) > 1:
                    raise UserError(path, "its name names no sequence; pass it as SEQ=path") from None
                seq = default_sequence
        if seq is None and path.is_dir():
            if default_sequence is None or len(inputs) > 1:
                raise UserError(path, "a folder of 2-D slices needs its sequence: SEQ=folder")
            seq = default_sequence
        if seq is None or seq == "seg":
            raise UserError(path, "not a NIfTI volume, case folder or folder of 2-D images")
        if seq in found:
            raise UserError(path, f"a second {seq} input (also {found[seq]})")
        found[seq] = path
    kinds = {"slices" if p.is_dir() else "volume" for p in found.values()}
    if len(kinds) > 1:
        raise UserError("--input", "mix of NIfTI files and image folders; give one kind")
    kind = kinds.pop()
    if kind == "volume":
        for path in found.values():
            if not is_nifti(path):
                raise UserError(path, "not a NIfTI file (.nii or .nii.gz)")
    return kind, {s: found[s] for s in SEQUENCES if s in found}


def _inputs_used(target: str, given: dict, sources: list[str] | None) -> tuple[str, dict]:
    """The canonical target and the inputs the model reads: never the target (when present it
    is what a synthesis is compared with), and only the model's sources when it names them."""
    target = canonical_sequence(target, "--target")
    rest = {s: v for s, v in given.items() if s != target}
    if not rest:
        raise UserError("--input", f"the only input is the target {target}")
    if sources is not None:
        rest = {s: v for s, v in rest.items() if s in sources} or rest   # else translate says what lacks
    return target, rest


def translate_stack(translator: Translator, stack: np.ndarray, available: np.ndarray, target: str,
                   batch: int, draw: int = 0) -> np.ndarray:
    """[N, S, S, 4] model-range slices (``available`` [4] or [N, 4]) -> [N, S, S] target in [0, 1]:
    the prediction (``draw`` 0), or draw k of the test-time samples: odd k of the inputs mirrored
    left to right (the output mirrored back), k >= 2 with the model's dropout on where it has it."""
    mirror = draw % 2 == 1
    translate = translator.sample if draw >= 2 and translator.sample is not None else translator.translate
    stack = stack[:, :, ::-1] if mirror else stack
    available = np.asarray(available, bool)
    per_slice = available.ndim == 2
    out = [translate(stack[i:i + batch], available[i:i + batch] if per_slice else available, target)
           for i in range(0, len(stack), batch)]
    out = preprocess.from_model_range(np.concatenate(out)) if out else np.zeros(stack.shape[:3], np.float32)
    return out[:, :, ::-1] if mirror else out


def predict_with_spread(translator: Translator, stack: np.ndarray, available: np.ndarray, target: str,
                        batch: int = BATCH, samples: int = SAMPLES) -> tuple[np.ndarray, np.ndarray | None]:
    """The prediction [N, S, S] in [0, 1] and, with ``samples`` >= 2, the per-pixel standard
    deviation of that many test-time draws (``translate_stack``; else None)."""
    prediction = translate_stack(translator, stack, available, target, batch)
    if samples < 2:
        return prediction, None
    draws = [prediction] + [translate_stack(translator, stack, available, target, batch, k) for k in range(1, samples)]
    return prediction, np.std(draws, axis=0).astype(np.float32)


def _resize_back(image01: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A [S, S] image to (rows, cols), cubic, clipped to [0, 1]."""
    if image01.shape == tuple(shape):
        return image01
    out = cv2.resize(image01, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


# ----------------------------------------------------------------------------- volumes

@dataclass
class VolumeResult:
    volume: np.ndarray          # float32, the reference input's array layout
    reference: str              # sequence whose image (affine, header) and scale are used
    bounds: tuple[float, float]  # its values mapped to 0 and 1 (preprocess.robust_scale)
    slices: int                 # axial slices translated (those with brain)
    mask: np.ndarray            # bool, the brain mask the volume was synthesized in (same layout)
    #: with ``samples``: the standard deviation of the test-time samples (same units and layout)
    spread: np.ndarray | None = None


def synthesize_volume(volumes: dict[str, np.ndarray], affine, target: str, translator: Translator,
                      batch: int = BATCH, samples: int = 0) -> VolumeResult:
    """Synthesize ``target`` for one case's volumes {sequence: raw 3-D array} (one shape); with
    ``samples`` >= 2, also the spread of that many test-time draws (``translate_stack``)."""
    target, volumes = _inputs_used(target, volumes, translator.sources)
    order = [s for s in SEQUENCES if s in volumes]
    mask3d, stripped = brain_mask(volumes)
    scaled, bounds = {}, {}
    for seq in order:
        vol, bounds[seq] = preprocess.robust_scale(volumes[seq], mask3d if stripped else None)
        scaled[seq] = axial_slices(vol, affine)
    if stripped:
        brain = axial_slices(mask3d, affine)
    else:   # the mask the model's reader drew on 2-D slices: a skull strip, else the head
        mean = sum(scaled.values()) / len(scaled)
        strip = (translator.preprocessing or {}).get("mask") == "stripped"
        brain = np.stack([(preprocess.stripped_mask if strip else preprocess.head_mask)(s) for s in mean])
    keep = np.flatnonzero(brain.any(axis=(1, 2)))
    slice_context.check_depth(len(keep), translator.context, "--input")
    size = translator.image_size
    available = np.array([s in volumes for s in SEQUENCES])
    stack = np.zeros((len(keep), size, size, len(SEQUENCES)), np.float32)
    for c, seq in enumerate(SEQUENCES):
        if seq in scaled:
            stack[..., c] = [preprocess.to_model_range(preprocess.resize_image(scaled[seq][k], size))
                             for k in keep]
    if translator.context:
        neighbours = slice_context.neighbour_rows(np.zeros(len(keep)), keep, translator.context)
        stack = slice_context.with_context(stack, neighbours)
    synthesized, spread = predict_with_spread(translator, stack, available, target, batch, samples)
    reference = order[0]
    lo, hi = bounds[reference]

    def to_volume(images01: np.ndarray, offset: float) -> np.ndarray:
        out = np.zeros(brain.shape, np.float32)
        for k, image in zip(keep, images01):
            out[k] = offset + _resize_back(image, brain.shape[1:]) * (hi - lo)
        return volume_from_axial(out * brain, affine).astype(np.float32)

    return VolumeResult(to_volume(synthesized, lo), reference, (lo, hi), len(keep),
                        volume_from_axial(brain, affine).astype(bool),
                        None if spread is None else to_volume(spread, 0.0))


def _check_nifti_name(out: Path) -> None:
    if not is_nifti(out):
        raise UserError(out, "the output of a volume must be a .nii or .nii.gz file")


def check_out(out, overwrite: bool = False) -> Path:
    """Refuse an ``--out`` that synthesis may not write before any work: a NIfTI name is a file,
    anything else a folder of slices (``atomic.check``)."""
    out = Path(out)
    return check(out, overwrite, folder=not is_nifti(out))


def write_nifti(volume: np.ndarray, reference, out, description: str, overwrite: bool = False) -> Path:
    """Write float32 ``volume`` with the reference image's affine and header, atomically."""
    import nibabel as nib

    out = Path(out)
    _check_nifti_name(out)
    header = reference.header.copy()
    header.set_data_dtype(np.float32)
    image = nib.Nifti1Image(volume.astype(np.float32), reference.affine, header)
    image.header["descrip"] = description.encode("ascii", "replace")[:DESCRIPTION_BYTES - 1]
    image.header.set_slope_inter(1.0, 0.0)
    with atomic_file(out, overwrite) as tmp:
        nib.save(image, tmp)
    return out


def compare_volumes(synthesized: np.ndarray, real: np.ndarray, inputs: dict[str, np.ndarray],
                    mask: np.ndarray) -> dict:
    """SSIM, PSNR, MAE and NMSE (``metrics.volume_metrics``) of the synthesized volume against
    the real one, and of each input copied as the target (the baseline a model has to beat),
    with how bright each is in the real target's bright and dark regions
    (``metrics.region_brightness``, the real target's own figures under "real"): every volume on
    its own robust scale inside ``mask``, as the model's inputs are."""
    from mri_gan.evaluation.metrics import PAIRED_DEFINITIONS, region_brightness, volume_metrics

    def unit(volume):
        return preprocess.robust_scale(volume, mask)[0] * mask

    truth = unit(real)
    rows = {"synthesized": synthesized, **{f"copy of {s}": v for s, v in inputs.items()}}
    figures = {}
    for name, volume in rows.items():
        scaled = unit(volume)
        m = volume_metrics(scaled, truth, mask, input_range=(0.0, 1.0))
        figures[name] = {**{k: round(m[k], 5) for k in ("ssim", "psnr", "mae", "nmse")},
                         **region_brightness(scaled, truth, mask)}
    figures["real"] = region_brightness(truth, truth, mask)
    return {"figures": figures, "voxels": int(mask.sum()),
            "scale": "each volume by its own robust scale inside the brain mask (p0.5 -> 0, "
                     "median -> 0.35), clipped to [0, 1]; 0 outside",
            "definitions": dict(PAIRED_DEFINITIONS)}


def _real_target(path, reference) -> np.ndarray:
    """The real target volume for ``--compare``, checked against the reference input's grid."""
    real, image = load_volume(path)
    shape = reference.shape[:3]
    if real.shape != tuple(shape):
        raise UserError(path, f"shape {'x'.join(map(str, real.shape))} differs from the inputs' "
                              f"{'x'.join(map(str, shape))}")
    if not np.allclose(image.affine, reference.affine, atol=1e-3):
        raise UserError(path, "its affine differs from the inputs' (not on the same voxel grid)")
    return real


def synthesize_case(files: dict[str, Path], target: str, translator: Translator, out,
                    batch: int = BATCH, compare=None, overwrite: bool = False) -> dict:
    """Read one case's NIfTI files, synthesize ``target`` and write it to ``out``; a summary.
    With ``compare`` (the real target's NIfTI) the summary scores the synthesis against it."""
    _check_nifti_name(check(out, overwrite))
    ignored = [s for s in files if s == canonical_sequence(target, "--target")]
    target, files = _inputs_used(target, files, translator.sources)
    volumes, image = load_case(files)
    real = None if compare is None else _real_target(compare, image)
    result = synthesize_volume(volumes, image.affine, target, translator, batch)
    lo, hi = result.bounds
    description = f"mri_gan {translator.name}: {target} [0,1]->{result.reference} robust scale [{lo:.4g},{hi:.4g}]"
    path = write_nifti(result.volume, image, out, description, overwrite)
    summary = {"out": str(path), "target": target, "inputs": list(files), "ignored": ignored,
               "reference": result.reference,
               "bounds": [lo, hi], "slices": result.slices, "shape": list(result.volume.shape),
               "description": description}
    if real is not None:
        summary["compare"] = dict(real=str(compare), **compare_volumes(result.volume, real, volumes,
                                                                       result.mask))
    return summary


# ----------------------------------------------------------------------------- 2-D slices

def _images_of(folder: Path) -> dict[Path, Path]:
    """Relative name without suffix -> file, for the images below ``folder``."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    return {p.relative_to(folder).with_suffix(""): p for p in files}


def _read_slices(listing: dict[str, dict], names: list, preprocessing: dict) -> tuple[list, list]:
    """Every named slice as [H, W, C] (the folders' sequences in order) preprocessed as the model
    trained (the folders are one subject), and its mask."""
    units = []
    for name in names:
        read = []
        for files in listing.values():
            try:
                read.append(read_gray(files[name]))
            except UnreadableFile as err:
                raise UserError(files[name], str(err)) from None
        if len({a.shape for a in read}) > 1:
            raise UserError(next(iter(listing.values()))[name], "its sequences differ in size")
        units.append(np.stack(read, axis=-1))
    masks = [preprocess.slice_mask(unit.mean(axis=2), preprocessing) for unit in units]
    return preprocess.prepare_slices(units, masks, preprocessing), masks


def synthesize_slices(folders: dict[str, Path], target: str, translator: Translator, out,
                      batch: int = BATCH, overwrite: bool = False) -> dict:
    """Folders of 2-D images {sequence: folder} with matching names -> OUT/<name>.png per image,
    the inputs preprocessed as the model's training data was (``Translator.preprocessing``)."""
    check(out, overwrite, folder=True)
    target, folders = _inputs_used(target, folders, translator.sources)
    if translator.context:
        raise UserError(next(iter(folders.values())), f"2-D slices carry no axial neighbours; this model reads "
                                                      f"{translator.context} on each side: give NIfTI volumes")
    listing = {seq: _images_of(folder) for seq, folder in folders.items()}
    first = next(iter(listing))
    names = list(listing[first])
    if not names:
        raise UserError(folders[first], "no image files")
    for seq, files in listing.items():
        lacking = [n for n in names if n not in files]
        if lacking:
            raise UserError(folders[seq], f"has no image named {lacking[0]} (found in {folders[first]})")
    preprocessing = translator.preprocessing or preprocess.PREPROCESSING_DEFAULT
    units, masks = _read_slices(listing, names, preprocessing)
    available = np.array([s in folders for s in SEQUENCES])
    channels = [SEQUENCES.index(seq) for seq in listing]
    size = translator.image_size
    stack = np.zeros((len(names), size, size, len(SEQUENCES)), np.float32)
    for i, unit in enumerate(units):
        for k, c in enumerate(channels):
            stack[i, ..., c] = preprocess.to_model_range(preprocess.resize_image(unit[..., k], size))
    synthesized = translate_stack(translator, stack, available, target, batch)
    with atomic_folder(out, overwrite) as tmp:
        for name, unit, mask, image in zip(names, units, masks, synthesized):
            path = tmp / name.with_suffix(".png")
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = np.round(_resize_back(image, unit.shape[:2]) * mask * 255.0).astype(np.uint8)
            cv2.imwrite(str(path), pixels)
    return {"out": str(out), "target": target, "inputs": list(folders), "images": len(names),
            "preprocessing": dict(preprocessing)}


def synthesize(inputs: list[str], target: str, translator: Translator, out, batch: int = BATCH,
               compare=None, overwrite: bool = False) -> dict:
    """``mri-gan synthesize``: a case's volumes -> a NIfTI, or folders of slices -> PNGs;
    ``compare``: the real target volume to score a NIfTI synthesis against; ``overwrite``: an
    existing ``out`` may be replaced."""
    if batch < 1:
        raise UserError("--batch", "must be at least 1")
    kind, found = parse_inputs(inputs, translator.default_sequence)
    if kind == "volume":
        return synthesize_case(found, target, translator, out, batch, compare, overwrite)
    if compare is not None:
        raise UserError("--compare", "scores volumes only (the inputs are 2-D slices)")
    return synthesize_slices(found, target, translator, out, batch, overwrite)
