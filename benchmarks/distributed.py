"""Multi-worker overhead on one machine: steps/s with 1 and 2 local workers, all-reduce bytes.

Runs the DCGAN at 64x64 (global batch 32) through `python -m mri_gan.train` for one worker and
through `mri-gan launch-local --workers 2` (one CPU each). On a 2-core machine this shows the
cost of MultiWorkerMirroredStrategy's collectives, not a speed-up. All-reduce bytes per step are
the gradient bytes of G and D (fp32) that every step reduces across workers; a ring all-reduce
moves 2 (n - 1) / n of that per worker.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import report, tiny

ARGS = ["--model", "dcgan", "--data", "phantom?subjects=20&size=64", "--preset", "quick", "--no-progress",
        "--set", "steps=60", "--set", "log_every=10", "--set", "checkpoint_every=1000",
        "--set", "sample_every=1000"]
BATCH = 32
TINY_ARGS = ["--model", "dcgan", "--data", "phantom?subjects=4&size=32&slices=2", "--preset", "smoke",
             "--no-progress", "--set", "steps=3", "--set", "batch_size=4"]


def _steps_per_s(run: Path, batch: int) -> float:
    from mri_gan.run_dir import RunDir

    entries = RunDir(run).metrics()
    return statistics.median(e["images_per_s"] for e in entries[1:]) / batch


def _gradient_bytes(preset: str) -> int:
    from mri_gan.config import resolve
    from mri_gan.models.dcgan import DCGAN

    task = DCGAN(resolve("dcgan", preset, "bench"), {"label_names": []})
    task.build()
    params = sum(int(v.shape.num_elements()) for m in (task.generator, task.discriminator)
                 for v in m.trainable_variables)
    return 4 * params


def main() -> None:
    small = tiny()
    args, batch = (TINY_ARGS, 4) if small else (ARGS, BATCH)
    with tempfile.TemporaryDirectory() as tmp:
        one, two = Path(tmp) / "one", Path(tmp) / "two"
        subprocess.run([sys.executable, "-m", "mri_gan.train", *args, "--out", str(one)], check=True)
        subprocess.run([sys.executable, "-m", "mri_gan", "launch-local", "--workers", "2", "--", *args,
                        "--out", str(two)], check=True)
        grad = _gradient_bytes("smoke" if small else "quick")
        report("distributed/dcgan32/batch4" if small else "distributed/dcgan64/batch32",
               steps_per_s_1_worker=_steps_per_s(one, batch),
               steps_per_s_2_workers=_steps_per_s(two, batch), allreduce_bytes_per_step=grad,
               ring_bytes_sent_per_worker_per_step=grad * 2 * (2 - 1) / 2)


if __name__ == "__main__":
    main()
