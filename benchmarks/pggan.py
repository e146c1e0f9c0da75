"""PGGAN training throughput at each growth stage of the `quick` preset (128x128, 1 channel).

For every stage: images/s of one training step (D step with gradient penalty, then G step) as
median / min / max after warm-up, at that stage's batch; FLOPs per image from the traced graph,
achieved GFLOP/s and their ratio to the fp32 matmul peak measured in the same process (above 1 in
bf16, whose AMX tiles outrun fp32). Measured under the preset's own setting (bf16 mixed
precision, bilinear upsampling in G, no XLA) and, for comparison, with nearest upsampling and in
float32 with and without XLA.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from benchmarks.common import (
    matmul_peak_gflops,
    model_flops_per_call,
    peak_memory_mb,
    random_slices,
    rate_stats,
    report,
    timed,
    tiny,
)
from mri_gan.config import resolve
from mri_gan.models.pggan import PGGAN

SETTINGS = [{}, {"upsampling": "nearest"}, {"precision": "float32"},
            {"precision": "float32", "jit_compile": True}]


def measure(overrides: dict, peak: float, repeats: int = 5, preset: str = "quick") -> None:
    cfg = resolve("pggan", preset, "random", overrides)
    keras.mixed_precision.set_global_policy(cfg.precision)
    task = PGGAN(cfg, {"label_names": ["a"]})
    task.build()
    g = cfg.pggan
    setting = f"{cfg.precision}, {g.upsampling}{', XLA' if cfg.jit_compile else ''}"
    report(f"pggan {setting}", config=f"{preset} preset: {cfg.image_size}x{cfg.image_size}, "
                                      f"start {g.start_size}, fmap_base {g.fmap_base}, "
                                      f"fmap_max {g.fmap_max}, fmap_min {g.fmap_min}, loss {g.pggan_loss}")
    data = random_slices(max(s.batch for s in task.schedule.stages), cfg.image_size)
    for stage in task.schedule.stages:
        batch = task.make_batch(data, np.arange(stage.batch), np.random.default_rng(0), stage.first_step)
        inputs = {k: tf.constant(v) for k, v in batch.items()}
        step = tf.function(lambda b, n=stage.batch: task.replica_step(b, n), jit_compile=cfg.jit_compile)
        flops = model_flops_per_call(step.get_concrete_function(inputs))
        seconds = timed(lambda step=step, inputs=inputs: step(inputs)["d_loss"].numpy(), repeats)
        name = f"pggan {setting} stage {stage.index} ({stage.resolution}x{stage.resolution} " \
               f"{'fade-in' if stage.fading else 'stable'}, batch {stage.batch})"
        figures = {"images_per_s": rate_stats(seconds, stage.batch)}
        if flops:
            achieved = flops / min(seconds) / 1e9
            figures.update(flops_per_image=flops / stage.batch, achieved_gflops=achieved,
                           ratio_to_peak=achieved / peak)
        report(name, **figures)
    keras.mixed_precision.set_global_policy("float32")


def main() -> None:
    small = tiny()
    peak = matmul_peak_gflops(256 if small else 2048)
    report("pggan", matmul_peak_gflops=peak)
    for overrides in SETTINGS[:1] if small else SETTINGS:
        measure(overrides, peak, *((1, "smoke") if small else ()))
    report("pggan", peak_memory_mb=peak_memory_mb())
