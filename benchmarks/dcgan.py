"""DCGAN train-step throughput at 128x128, batch 120 (the paper's), against a measured matmul peak.

Prints images/s (median, min, max), FLOPs per image (TensorFlow's profiler on the traced step),
achieved GFLOP/s, the fp32 matmul peak measured in this process, their ratio and peak memory,
for float32 and bfloat16 mixed precision. The step is the trainer's: one tf.function around
strategy.run(task.replica_step) under the default strategy.
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks.common import matmul_peak_gflops, model_flops_per_call, peak_memory_mb, rate_stats, report, timed, tiny


def measure(precision: str, size: int = 128, batch: int = 120, repeats: int = 5) -> dict:
    import keras
    import tensorflow as tf

    from mri_gan.config import resolve
    from mri_gan.models.dcgan import DCGAN

    keras.mixed_precision.set_global_policy(precision)
    cfg = resolve("cdcgan", "paper", "bench", {"image_size": size, "batch_size": batch,
                                               "precision": precision})
    task = DCGAN(cfg, {"label_names": ["no_tumor", "tumor"]})
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        task.build()
    rng = np.random.default_rng(0)
    batch_arrays = {"image": tf.constant(rng.uniform(-1, 1, (batch, size, size, 1)), tf.float32),
                    "label": tf.constant(rng.integers(0, 2, batch), tf.int32),
                    "z": tf.constant(task.noise(rng, batch))}

    @tf.function
    def step(inputs):
        return strategy.run(task.replica_step, args=(inputs, batch))

    flops = model_flops_per_call(step.get_concrete_function(batch_arrays))
    seconds = timed(lambda: step(batch_arrays)["d_loss"].numpy(), repeats)
    peak = matmul_peak_gflops(256 if tiny() else 2048)
    rates = rate_stats(seconds, batch)
    figures = {"images_per_s": rates, "matmul_peak_gflops": peak, "peak_memory_mb": peak_memory_mb()}
    if flops:
        achieved = flops / min(seconds) / 1e9
        figures.update(flops_per_image=flops / batch, achieved_gflops=achieved, fraction_of_peak=achieved / peak)
    keras.mixed_precision.set_global_policy("float32")
    return figures


def main() -> None:
    batch = int(os.environ.get("MRI_GAN_BENCH_BATCH", "120"))
    size, batch, repeats = (16, 2, 1) if tiny() else (128, batch, 5)
    for precision in ("float32", "mixed_bfloat16"):
        report(f"dcgan/{size}px/batch{batch}/{precision}", **measure(precision, size, batch, repeats))


if __name__ == "__main__":
    main()
