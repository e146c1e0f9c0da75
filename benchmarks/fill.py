"""`mri-gan fill`: seconds per 240x240x155 case with only T1 given (T1ce, T2 and FLAIR
synthesized), each with its uncertainty map (8 test-time draws), end to end (read, normalise,
translate, write the volumes, qc.png and fill.json), and the process's peak resident memory.

The model is the one shipped with the package; where the package holds none, the quick preset's
imputation architecture untrained (speed does not depend on the weights), as the report says.
A fill of a 240x240x8 case first traces the model's functions, untimed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import peak_memory_mb, report, timed, tiny, write_case
from mri_gan.quiet import import_tensorflow

SLICES = 155
REPEATS = 2


def _task():
    """(the shipped model's task, or the untrained quick-preset one; what it is)."""
    from mri_gan import inference, pretrained

    if pretrained.available():
        task = inference.load_task(pretrained.NAME)
        shipped = task.meta["shipped"]
        return task, f"shipped {shipped['name']} version {shipped['version']}"
    from benchmarks.serving import build

    return build("pix2pix", {"target": "any"}), "quick preset, untrained (the package holds no shipped model)"


def fill_time(samples: int = 8, slices: int = SLICES, repeats: int = REPEATS) -> dict:
    """Seconds of `mri-gan fill` minus process start and model load, per case and per sequence."""
    from mri_gan.fill import fill
    from mri_gan.synthesis import task_translator

    task, what = _task()
    translator = task_translator(task)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fill([str(write_case(tmp, ("t1",), 8, "warmup"))], tmp / "warmup-out", translator, samples=samples)
        case = write_case(tmp, ("t1",), slices)

        def once():
            records.append(fill([str(case)], tmp / f"out{len(records)}", translator, samples=samples))

        seconds = timed(once, repeats, warmup=0)
    by_sequence = {}
    for record in records:
        for entry in record["synthesized"]:
            by_sequence.setdefault(entry["sequence"], []).append(entry["seconds"])
    return {"model": what, "slices_translated": records[0]["synthesized"][0]["slices"], "samples": samples,
            "seconds": {"median": float(np.median(seconds)), "min": min(seconds), "max": max(seconds)},
            "seconds_per_sequence": {seq: float(np.median(v)) for seq, v in by_sequence.items()}}


def main() -> None:
    import_tensorflow()   # TensorFlow start-up is not timed

    start = time.perf_counter()
    slices = 4 if tiny() else SLICES
    figures = fill_time(samples=2, slices=slices, repeats=1) if tiny() else fill_time()
    report(f"fill 240x240x{slices} t1 given, t1ce t2 flair synthesized", **figures)
    report("fill", peak_memory_mb=peak_memory_mb(), total_s=time.perf_counter() - start)


if __name__ == "__main__":
    main()
