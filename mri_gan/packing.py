"""Packing a trained Pix2Pix imputation run into a shipped-model folder (``mri-gan pretrained
pack``; the layout is mri_gan.pretrained's), by default the package's own.

The folder is written to a temporary sibling and renamed when complete; an existing shipped
model there is replaced only when asked to (``overwrite``), anything else there is refused.
``MODEL_CARD.md`` is rendered from ``shipped/MODEL_CARD.template.md`` with what the run says of
itself; its held-out figures and timings are TODO rows to fill from ``mri-gan evaluate`` and
``python -m benchmarks fill``. The template's training-data section describes the data of the
model the package ships (brats_multicontrast); a run on other data needs it rewritten.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from string import Template

import numpy as np

from mri_gan import __version__, pretrained
from mri_gan.atomic import atomic_folder, check
from mri_gan.errors import UserError
from mri_gan.inference import load_task
from mri_gan.run_dir import RunDir
from mri_gan.synthesis import SAMPLES

TEMPLATE = Path(__file__).resolve().parent / "shipped" / "MODEL_CARD.template.md"
#: the most the weights file may take (the package's size limit)
LIMIT_MB = 25.0
NAME = "mri_gan impute"


def _previous_version(out: Path) -> int:
    """The version of the shipped model in ``out`` (0 where there is none)."""
    try:
        return int(RunDir(out).meta()["shipped"]["version"])
    except (UserError, ValueError, KeyError, TypeError):
        return 0


def _checkpoint_record(run: RunDir, which: str, restored: str) -> dict:
    record = {"which": which, "file": Path(os.path.relpath(restored, run.path)).as_posix()}
    if which == "best":
        record.update(run.best_record() or {})
    return record


def training_command(cfg, split_file=None) -> str:
    """The ``python -m mri_gan.train`` command of a run's config: ``--set`` for every setting its
    preset does not give (and ``--split`` where the run trained on a given split)."""
    from mri_gan.config import resolve

    def text(value) -> str:
        if isinstance(value, list):
            return ",".join(map(str, value))
        return str(value).lower() if isinstance(value, bool) else str(value)

    preset = resolve(cfg.model, cfg.preset, cfg.data, {"target": cfg.pix2pix.target}).flat()
    sets = [f"--set {key}={text(value)}" for key, value in cfg.flat().items() if value != preset[key]]
    return " ".join([f"python -m mri_gan.train --model {cfg.model} --data {cfg.data} --target {cfg.pix2pix.target} "
                     f"--preset {cfg.preset}", *sets, *([f"--split {split_file}"] if split_file else []),
                     "--out RUN"])


def _card(cfg, shipped: dict, split: dict, parameters: int, weights_mb: float) -> str:
    c = shipped["checkpoint"]
    checkpoint = f"`{c['file']}`" + (f" (step {c['step']}, best validation {c['metric']} {c['value']:.4g})"
                                     if "step" in c else "")
    subjects = {f"{part}_subjects": ", ".join(split.get(part, [])) or "none" for part in ("train", "val", "test")}
    counts = {f"{part}_count": len(split.get(part, [])) for part in ("train", "val", "test")}
    settings = {k: ("yes" if v else "no") if isinstance(v, bool) else v for k, v in cfg.flat().items()}
    fields = {**settings, **subjects, **counts, "command": training_command(cfg),
              "version": shipped["version"], "packed": shipped["packed"],
              "mri_gan": __version__, "run": shipped["run"], "checkpoint": checkpoint,
              "parameters": f"{parameters / 1e6:.2f} M", "weights_mb": f"{weights_mb:.1f}", "samples": SAMPLES}
    return Template(TEMPLATE.read_text()).substitute(fields)


def package(run_dir, out_dir=None, checkpoint: str = "best", version: int | None = None,
            overwrite: bool = False) -> Path:
    """Write the shipped-model folder ``out_dir`` (default: the package's) from a Pix2Pix
    imputation run's checkpoint (its best by validation, or ``"latest"``); returns the folder."""
    run = RunDir(run_dir)
    cfg, meta = run.load()
    if cfg.model != "pix2pix" or not cfg.pix2pix.imputation:
        kind = f"pix2pix --target {cfg.pix2pix.target}" if cfg.model == "pix2pix" else cfg.model
        raise UserError(run.config_file, f"a {kind} run; the shipped model is a pix2pix imputation "
                                         f"run (--target any)")
    out = check(out_dir if out_dir is not None else pretrained.FOLDER, overwrite=True, folder=True)
    replace = out.exists() and any(out.iterdir())
    if replace and not pretrained.available(out):
        raise UserError(out, "exists, is not empty and holds no shipped model; choose a new --out")
    if replace and not overwrite:
        raise UserError(out, "holds a shipped model already; pass --overwrite to replace it")
    if version is not None and version < 1:
        raise UserError("--version", f"must be a positive integer, got {version}")
    task = load_task(run.path, checkpoint)
    arrays = pretrained.stored_weights(task.generator)
    shipped = {"name": NAME, "version": version or _previous_version(out) + 1, "run": run.path.absolute().name,
               "checkpoint": _checkpoint_record(run, checkpoint, task.checkpoint),
               "packed": datetime.now(timezone.utc).date().isoformat(), "mri_gan": __version__,
               "weights": f"{pretrained.WEIGHTS}: the generator's variables in model order, float16"}
    split = run.split() if run.has_split() else {}
    with atomic_folder(out, overwrite=True) as tmp:
        folder = RunDir(tmp)
        shutil.copyfile(run.config_file, folder.config_file)
        folder.save_meta({**meta, "shipped": shipped})
        if split:
            shutil.copyfile(run.split_file, folder.split_file)
        np.savez_compressed(tmp / pretrained.WEIGHTS, **arrays)
        weights_mb = (tmp / pretrained.WEIGHTS).stat().st_size / 2 ** 20
        if weights_mb > LIMIT_MB:
            raise UserError(run.path, f"its generator takes {weights_mb:.1f} MB as float16, above the "
                                     f"{LIMIT_MB:g} MB a shipped model may take")
        parameters = sum(a.size for a in arrays.values())
        (tmp / pretrained.CARD).write_text(_card(cfg, shipped, split, parameters, weights_mb))
    return out
