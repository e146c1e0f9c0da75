"""Completing a case: every missing sequence of a NIfTI case synthesized, each with a per-voxel
uncertainty, a QC picture and a record of what was done (``mri-gan fill``).

Each missing sequence is synthesized from the given ones only (never from another synthesized
one), as ``synthesis.synthesize_volume`` does. Its uncertainty is the standard deviation, voxel
by voxel and in the synthesized volume's units, over ``SAMPLES`` test-time draws: the
prediction, the prediction of the inputs mirrored left to right, and (for a model with dropout)
draws with dropout on, mirrored every other time. Everything goes to a temporary sibling of the
output folder, renamed when complete.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mri_gan import __version__
from mri_gan.atomic import atomic_folder, check
from mri_gan.data.brats import axial_slices, load_case, split_name
from mri_gan.data.records import SEQUENCES
from mri_gan.errors import UserError
from mri_gan.synthesis import BATCH, SAMPLES, Translator, parse_inputs, synthesize_volume, ticking, write_nifti

UNCERTAINTY_DEFINITION = ("standard deviation over the test-time draws (the prediction, its left-right "
                          "mirror, and draws with the model's dropout on where it has dropout), per "
                          "voxel, in the synthesized volume's units; 0 outside the brain")


def case_name(files: dict[str, Path]) -> str:
    """The case's name from its first file (``<case>_<seq>.nii.gz``), else that file's folder."""
    first = next(iter(files.values()))
    try:
        return split_name(first)[0]
    except UserError:
        return first.parent.absolute().name


def fillable(translator: Translator, given: list[str]) -> list[str]:
    """The missing sequences this model can synthesize from ``given``."""
    missing = [s for s in SEQUENCES if s not in given]
    target = translator.target
    if target is None:                  # imputation: any missing one
        return missing
    if target not in missing:
        return []
    lacking = [s for s in translator.sources or [] if s not in given]
    if lacking:
        raise UserError("CASE", f"this model synthesizes {target} from {', '.join(translator.sources)}; "
                                f"the case lacks {', '.join(lacking)}")
    return [target]


def model_record(task, run) -> dict:
    """What fill.json says of the model besides its name: the ``--run`` given, the checkpoint (or
    weights file) loaded and, for a shipped model, its ``shipped`` record (name, version, origin)."""
    record = {"run": str(run), "checkpoint": getattr(task, "checkpoint", None)}
    if "shipped" in task.meta:
        record["shipped"] = task.meta["shipped"]
    return record


def qc_view_centre(volumes: dict[str, np.ndarray], mask: np.ndarray) -> tuple[int, int, int]:
    """Where the QC views cross (axial-slice indices: slice, row, col): the centre of the voxels
    brighter than twice the brain median in FLAIR (else T2, else the first volume), where a
    lesion usually shows, or the brain's centre when none are."""
    seq = next((s for s in ("flair", "t2") if s in volumes), next(iter(volumes)))
    vol, brain = volumes[seq], mask
    bright = brain & (vol > 2.0 * np.median(vol[brain])) if brain.any() else brain
    points = np.argwhere(bright if bright.sum() >= 10 else brain)
    if not len(points):
        return tuple(s // 2 for s in vol.shape)
    return tuple(int(v) for v in np.median(points, axis=0))


class QcRow(NamedTuple):
    """One row of qc.png: its title, the volume (axial-slice order), colour map and colour-bar label."""

    title: str
    volume: np.ndarray
    cmap: str
    scale: str


def qc_figure(rows: list[QcRow], centre: tuple[int, int, int]):
    """The QC figure: one row per ``QcRow``, its axial, coronal and sagittal views through
    ``centre`` in one colour scale (0 to the row's 99.5th percentile of non-zero voxels, brighter
    voxels at the top colour) with its colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k, r, c = centre
    fig, axes = plt.subplots(len(rows), 3, figsize=(8.5, 2.5 * len(rows)), squeeze=False, layout="constrained")
    for ax_row, row in zip(axes, rows):
        vol = row.volume
        top = float(np.percentile(vol[vol > 0], 99.5)) if (vol > 0).any() else 1.0
        for ax, (view, image) in zip(ax_row, (("axial", vol[k]), ("coronal", vol[::-1, r, :]),
                                               ("sagittal", vol[::-1, :, c]))):
            shown = ax.imshow(image, cmap=row.cmap, vmin=0.0, vmax=top, aspect="auto", interpolation="nearest")
            ax.set_title(f"{row.title}: {view}", fontsize=8)
            ax.axis("off")
        bar = fig.colorbar(shown, ax=list(ax_row), extend="max", shrink=0.9)
        bar.set_label(row.scale, fontsize=7)
        bar.ax.tick_params(labelsize=7)
    return fig


def qc_picture(rows: list[QcRow], centre: tuple[int, int, int], path: Path) -> None:
    """``qc_figure`` saved as ``path``."""
    import matplotlib.pyplot as plt

    fig = qc_figure(rows, centre)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def fill(inputs: list[str], out, translator: Translator, uncertainty: bool = True, samples: int = SAMPLES,
         batch: int = BATCH, model: dict | None = None, progress=None, tick=None, overwrite: bool = False) -> dict:
    """Synthesize every sequence a NIfTI case (``inputs``: a case folder, NIfTI files named by
    sequence, or ``seq=path`` pairs) lacks into the new folder ``out``: ``<case>_<seq>.nii.gz``,
    ``<case>_<seq>_uncertainty.nii.gz`` (unless not ``uncertainty``), ``qc.png`` and
    ``fill.json``; a case with nothing to fill writes nothing. ``model``: what the record says of
    the model; ``progress(text)``: told before each sequence; ``tick()``: after each batch of
    slices translated; ``overwrite``: an existing ``out`` may be replaced."""
    check(out, overwrite, folder=True)
    kind, files = parse_inputs(inputs, None)
    if kind != "volume":
        raise UserError("CASE", "fill completes NIfTI cases; for folders of 2-D slices use synthesize")
    if batch < 1:
        raise UserError("--batch", "must be at least 1")
    if samples < 2:
        raise UserError("--samples", "must be at least 2 (the spread of one draw is not defined)")
    given = list(files)
    todo = fillable(translator, given)
    case = case_name(files)
    record = {"case": case, "given": given, "synthesized": [], "model": {"name": translator.name, **(model or {})},
              "mri_gan": __version__}
    if not todo:
        record["note"] = ("the case has all four sequences" if len(given) == len(SEQUENCES)
                          else "this model synthesizes none of the missing sequences")
        return record
    volumes, image = load_case(files)
    if tick is not None:
        translator = ticking(translator, tick)
    with atomic_folder(out, overwrite) as tmp:
        shown, mask = [], None
        for seq in todo:
            if progress is not None:
                progress(f"{case}: synthesizing {seq} from {', '.join(given)}")
            start = time.perf_counter()
            result = synthesize_volume(volumes, image.affine, seq, translator, batch,
                                       samples if uncertainty else 0)
            lo, hi = result.bounds
            description = f"mri_gan {translator.name}: {seq} from {'+'.join(given)}, {result.reference} scale"
            write_nifti(result.volume, image, tmp / f"{case}_{seq}.nii.gz", description)
            entry = {"sequence": seq, "file": f"{case}_{seq}.nii.gz", "reference": result.reference,
                     "bounds": [lo, hi], "slices": result.slices}
            shown.append(QcRow(f"{seq} (synthesized)", result.volume, "gray",
                               f"intensity ({result.reference}'s units)"))
            if result.spread is not None:
                write_nifti(result.spread, image, tmp / f"{case}_{seq}_uncertainty.nii.gz",
                            f"mri_gan {translator.name}: {seq} uncertainty (sd of {samples} draws)")
                entry["uncertainty"] = f"{case}_{seq}_uncertainty.nii.gz"
                shown.append(QcRow(f"{seq} uncertainty (sd)", result.spread, "magma",
                                   f"sd of {samples} draws ({result.reference}'s units)"))
            entry["seconds"] = round(time.perf_counter() - start, 2)
            record["synthesized"].append(entry)
            mask = result.mask
        axial = functools.partial(axial_slices, affine=image.affine)
        centre = qc_view_centre({s: axial(v) for s, v in volumes.items()}, axial(mask))
        qc_picture([QcRow(f"{s} (given)", axial(volumes[s]), "gray", "intensity (the file's units)") for s in given]
                   + [row._replace(volume=axial(row.volume)) for row in shown], centre, tmp / "qc.png")
        record.update(qc="qc.png", samples=samples if uncertainty else 0,
                      uncertainty=UNCERTAINTY_DEFINITION if uncertainty else None,
                      inputs={s: str(p) for s, p in files.items()})
        (tmp / "fill.json").write_text(json.dumps(record, indent=1) + "\n")
    record["out"] = str(out)
    return record
