"""The training input path alone, and how long a training step waits for it.

Images/s of the in-graph batches (mri_gan.data.pipeline: stateless per-epoch shuffle, gather,
mirror, rotation / zoom warp, lesion masks, sequence hiding) for Pix2Pix translation (T1 ->
FLAIR) and imputation (``--target any``) at 128 and 256 px, batch 64, with the quick preset's
augmentation, over 512 random slices. Then a short quick-preset imputation training at 128 px
through the trainer: images/s and the share of wall time spent in the iterator's ``next``
(``input_wait`` in metrics.jsonl), the first logged interval (tracing) left out.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import peak_memory_mb, random_slices, rate_stats, report, timed, tiny

KINDS = {"translation": {"target": "flair", "source": ["t1"]}, "imputation": {"target": "any"}}
#: the quick preset's network, shrunk for the tiny size
TINY_NET = {"unet_depth": 4, "unet_filters": 4, "d_filters": 4}


def input_rate(kind: str, size: int, batch: int = 64, steps: int = 20, repeats: int = 3, slices: int = 512) -> dict:
    """Images/s of the input pipeline alone (median, min, max over ``repeats`` runs of ``steps`` batches)."""
    from mri_gan.config import resolve
    from mri_gan.data.pipeline import training_batches
    from mri_gan.models.pix2pix import Pix2Pix

    sets = {**KINDS[kind], "image_size": size, **(TINY_NET if size < 128 else {})}
    task = Pix2Pix(resolve("pix2pix", "quick", "benchmark", sets), {})
    data = random_slices(slices, size)
    dataset = training_batches(task, task.source(data), np.arange(slices), range(steps * (repeats + 1)),
                               batch, 0, 0, range(1), batch)
    iterator = iter(dataset)
    seconds = timed(lambda: [next(iterator) for _ in range(steps)], repeats, warmup=1)
    return rate_stats(seconds, steps * batch)


def input_wait(steps: int = 21, log_every: int = 5, size: int = 128) -> dict:
    """Images/s and input-wait share of a quick-preset imputation training (logged intervals but the first)."""
    from mri_gan.config import resolve
    from mri_gan.run_dir import RunDir
    from mri_gan.training.trainer import Trainer

    cfg = resolve("pix2pix", "quick", "benchmark", {
        "target": "any", "image_size": size, "steps": steps, "log_every": log_every,
        "val_every": 0, "sample_every": steps, "checkpoint_every": steps,
        **(TINY_NET if size < 128 else {})})
    with tempfile.TemporaryDirectory() as tmp:
        Trainer(cfg, Path(tmp) / "run", data=random_slices(64, size), progress=False).fit()
        entries = RunDir(Path(tmp) / "run").metrics()
    timed_entries = [e for e in entries[1:] if e["step"] % log_every == 0]
    return {"precision": cfg.precision, "batch": cfg.batch_size,
            "images_per_s": statistics.median(e["images_per_s"] for e in timed_entries),
            "input_wait_share": statistics.median(e["input_wait"] for e in timed_entries)}


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    small = tiny()
    for size in (32,) if small else (128, 256):
        for kind in KINDS:
            rates = (input_rate(kind, size, batch=4, steps=2, repeats=2, slices=8) if small
                     else input_rate(kind, size))
            report(f"input {kind} {size}px batch {4 if small else 64}", images_per_s=rates)
    figures = input_wait(steps=5, log_every=2, size=32) if small else input_wait()
    report(f"input wait: pix2pix quick imputation {32 if small else 128}px", **figures)
    report("input", peak_memory_mb=peak_memory_mb())


if __name__ == "__main__":
    main()
