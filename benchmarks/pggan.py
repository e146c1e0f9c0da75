"""PGGAN training throughput at each growth stage of the `quick` preset (128x128, 1 channel).

For every stage: images/s of one training step (D step with gradient penalty, then G step) as
median / min / max after warm-up, at that stage's batch; FLOPs per image from the traced graph,
achieved GFLOP/s and their ratio to the fp32 matmul peak measured in the same process.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from benchmarks.common import (matmul_peak_gflops, model_flops_per_call, peak_memory_mb, rate_stats, report,
                               timed)
from mri_gan.config import resolve
from mri_gan.data.slice_set import SliceSet
from mri_gan.models.pggan import PGGAN


def _random_slices(n: int, size: int) -> SliceSet:
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (n, size, size, 4)).astype(np.float32)
    mask = np.ones((n, size, size), bool)
    return SliceSet(images, np.ones((n, 4), bool), np.zeros(n, np.int32), ["a"],
                    np.array([f"s{i}" for i in range(n)]), np.zeros(n, np.int32), mask, mask,
                    np.zeros(n, bool), "random", "random")


def main(repeats: int = 5) -> None:
    cfg = resolve("pggan", "quick", "random")
    task = PGGAN(cfg, {"label_names": ["a"]})
    task.build()
    peak = matmul_peak_gflops()
    report("pggan", config=f"quick preset: {cfg.image_size}x{cfg.image_size}, start {cfg.start_size}, "
                           f"fmap_base {cfg.fmap_base}, fmap_max {cfg.fmap_max}, fmap_min {cfg.fmap_min}, "
                           f"loss {cfg.pggan_loss}, XLA {cfg.jit_compile}",
           matmul_peak_gflops=peak)
    data = _random_slices(max(s.batch for s in task.schedule.stages), cfg.image_size)
    for stage in task.schedule.stages:
        batch = task.make_batch(data, np.arange(stage.batch), np.random.default_rng(0), stage.first_step)
        inputs = {k: tf.constant(v) for k, v in batch.items()}
        step = tf.function(lambda b, n=stage.batch: task.replica_step(b, n), jit_compile=cfg.jit_compile)
        concrete = step.get_concrete_function(inputs)
        flops = model_flops_per_call(concrete)
        seconds = timed(lambda: step(inputs)["d_loss"].numpy(), repeats)
        rates = rate_stats(seconds, stage.batch)
        name = f"pggan stage {stage.index} ({stage.resolution}x{stage.resolution} " \
               f"{'fade-in' if stage.fading else 'stable'}, batch {stage.batch})"
        figures = {"images_per_s": rates}
        if flops:
            achieved = flops / min(seconds) / 1e9
            figures.update(flops_per_image=flops / stage.batch, achieved_gflops=achieved,
                           ratio_to_peak=achieved / peak)
        report(name, **figures)
    report("pggan", peak_memory_mb=peak_memory_mb())
