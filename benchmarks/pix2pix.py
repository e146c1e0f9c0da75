"""Pix2Pix: train-step throughput (UNet-128 + PatchGAN at 128 batch 8 and 80, UNet-256 at 256
batch 1) in float32 and bf16 mixed precision (and XLA once), FLOPs per image from the traced
step, achieved GFLOP/s against the fp32 matmul peak measured in this process, and the time to
synthesize one 240x240x155 case (read, normalise, translate, write)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    matmul_peak_gflops,
    model_flops_per_call,
    peak_memory_mb,
    rate_stats,
    report,
    timed,
    tiny,
    write_case,
)
from mri_gan.quiet import import_tensorflow

#: (name, image size, UNet depth, batch, timed repeats)
WORKLOADS = [("unet128_b8", 128, 7, 8, 8), ("unet128_b80", 128, 7, 80, 3), ("unet256_b1", 256, 8, 1, 10)]
TINY_WORKLOADS = [("unet32_b2", 32, 4, 2, 1)]


def _task(size: int, depth: int, batch: int, precision: str, filters: int = 64):
    import keras

    from mri_gan.config import resolve
    from mri_gan.models.pix2pix import Pix2Pix

    keras.mixed_precision.set_global_policy(precision)
    cfg = resolve("pix2pix", "paper", "benchmark", {
        "image_size": size, "batch_size": batch, "unet_depth": depth,
        "unet_filters": filters, "d_filters": 64, "precision": precision})
    keras.utils.set_random_seed(0)
    task = Pix2Pix(cfg, {})
    task.build()
    return task


def train_step(size: int, depth: int, batch: int, repeats: int, precision: str, xla: bool, peak: float) -> dict:
    import keras
    import tensorflow as tf

    task = _task(size, depth, batch, precision)
    rng = np.random.default_rng(0)
    inputs = {"cond": tf.constant(rng.uniform(-1, 1, (batch, size, size, 1)), tf.float32),
              "target": tf.constant(rng.uniform(-1, 1, (batch, size, size, 1)), tf.float32),
              "weight": tf.ones((batch, 1)), "lesion": tf.zeros((batch, size, size, 1))}
    assert inputs.keys() == task.batch_spec(0).keys()
    step = tf.function(lambda b: task.replica_step(b, batch), jit_compile=xla)
    flops = model_flops_per_call(step.get_concrete_function(inputs))
    seconds = timed(lambda: step(inputs)["g_loss"].numpy(), repeats)
    keras.mixed_precision.set_global_policy("float32")
    rates = rate_stats(seconds, batch)
    out = {"images_per_s": rates}
    if flops:
        gflops = flops / batch * rates["median"] / 1e9
        out.update(gflop_per_image=flops / batch / 1e9, achieved_gflops=gflops, peak_gflops=peak,
                   ratio_to_peak=gflops / peak)
    return out


def synthesis_time(filters: int, repeats: int = 3, size: int = 128, depth: int = 7, slices: int = 155) -> dict:
    """Seconds for `mri-gan synthesize` minus process start: one case t1 -> flair, end to end."""
    from mri_gan.synthesis import synthesize, task_translator

    task = _task(size, depth, 1, "float32", filters)
    translator = task_translator(task)
    with tempfile.TemporaryDirectory() as tmp:
        case = write_case(Path(tmp), slices=slices)
        outs = iter(range(repeats + 1))
        seconds = timed(lambda: synthesize([str(case)], "flair", translator,
                                           Path(tmp) / f"out{next(outs)}.nii.gz"), repeats, warmup=1)
    return {"seconds": {"median": float(np.median(seconds)), "min": min(seconds), "max": max(seconds)},
            "goal_s": 10.0}


def main() -> None:
    import_tensorflow()   # TensorFlow start-up is not timed

    start = time.perf_counter()
    small = tiny()
    peak = matmul_peak_gflops(256 if small else 2048)
    report("pix2pix", matmul_peak_fp32_gflops=peak)
    for name, size, depth, batch, repeats in TINY_WORKLOADS if small else WORKLOADS:
        for precision in ("float32", "mixed_bfloat16"):
            report(f"pix2pix {name} {precision}",
                   **train_step(size, depth, batch, repeats, precision, False, peak))
    name, size, depth, batch, repeats = (TINY_WORKLOADS if small else WORKLOADS)[0]
    report(f"pix2pix {name} float32 xla", **train_step(size, depth, batch, repeats, "float32", True, peak))
    if small:
        report("pix2pix synthesize 240x240x4 unet32 filters 4", **synthesis_time(4, 1, 32, 4, 4))
    for filters in () if small else (32, 64):
        report(f"pix2pix synthesize 240x240x155 unet128 filters {filters}", **synthesis_time(filters))
    report("pix2pix", peak_memory_mb=peak_memory_mb(), total_s=time.perf_counter() - start)
