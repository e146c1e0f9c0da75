"""VGG19 style refinement at 128x128: image-iterations/s for a batch of 64 pairs, and one pair at a time.

One image-iteration = one Adam step on one image: a VGG19 forward pass up to block5_conv2 and
the gradient back to the pixels (content and style targets are computed once, outside the
timing). Weights do not change the speed, so random weights are used. Options measured:
the batch size, bf16 mixed precision of the feature network, XLA.

`python -m benchmarks style` (set STYLE_BENCH_OPTIONS=0 to skip the option variants).
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks.common import matmul_peak_gflops, peak_memory_mb, rate_stats, report, timed, tiny

SIZE = 128
BATCH = 64


def flops_per_image_iteration(size: int = SIZE) -> float:
    """Convolution FLOPs of one step on one image: forward to block5_conv2, then back to the pixels
    (the input gradient of a convolution costs as much as the convolution; no weight gradients)."""
    from mri_gan.style.vgg import BLOCKS, CONTENT_LAYERS, FILTERS, LAYERS, STYLE_LAYERS

    deepest = max(LAYERS.index(n) for n in CONTENT_LAYERS + STYLE_LAYERS)
    total, channels = 0.0, 3
    for block, convs in BLOCKS:
        for i in range(1, convs + 1):
            if LAYERS.index(f"block{block}_conv{i}") > deepest:
                return 2 * total
            total += 2.0 * size * size * 9 * channels * FILTERS[block]
            channels = FILTERS[block]
        size //= 2
    return 2 * total


def _pairs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (n, SIZE, SIZE, 1)).astype(np.float32),
            rng.uniform(-1, 1, (n, SIZE, SIZE, 1)).astype(np.float32))


def _measure(name: str, batch: int, repeats: int, peak: float, precision: str = "float32",
             jit: bool = False) -> float:
    """Time Adam steps on ``batch`` pairs; report and return image-iterations/s (median)."""
    import keras
    import tensorflow as tf

    from mri_gan.style import transfer, vgg

    keras.mixed_precision.set_global_policy(precision)
    try:
        extractor, _ = vgg.feature_extractor("random")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    loop = transfer.StyleTransfer(extractor)
    content, style = _pairs(batch)
    content_targets, style_grams = loop.targets(content, style)
    step, _ = loop.adam_step(content, content_targets, style_grams)
    if jit:
        step = tf.function(step.python_function, jit_compile=True)
    seconds = timed(lambda: step()["total"].numpy(), repeats=repeats, warmup=1)
    rates = rate_stats(seconds, batch)
    flops = flops_per_image_iteration()
    achieved = flops * rates["median"] / 1e9
    report(name, **{"image-iterations/s": rates, "seconds per image-iteration": 1.0 / rates["median"],
                    "GFLOPs per image-iteration": flops / 1e9, "achieved GFLOP/s": achieved,
                    "fp32 matmul peak GFLOP/s": peak, "ratio to peak": achieved / peak})
    return rates["median"]


def main() -> None:
    if tiny():
        peak = matmul_peak_gflops(256)
        _measure(f"style {SIZE}px batch 1 fp32", 1, repeats=1, peak=peak)
        report("style", **{"peak memory MiB": peak_memory_mb()})
        return
    peak = matmul_peak_gflops()
    batched = _measure(f"style {SIZE}px batch {BATCH} fp32", BATCH, repeats=3, peak=peak)
    single = _measure(f"style {SIZE}px one at a time fp32", 1, repeats=10, peak=peak)
    report(f"style {SIZE}px", **{
        "seconds per image-iteration batched": 1.0 / batched,
        "seconds per image-iteration one at a time": 1.0 / single,
        "batched speed-up": batched / single,
        "target image-iterations/s (batched)": 8.4,
    })
    if os.environ.get("STYLE_BENCH_OPTIONS", "1") != "0":
        _measure(f"style {SIZE}px batch 8 fp32", 8, repeats=3, peak=peak)
        _measure(f"style {SIZE}px batch 8 XLA", 8, repeats=3, peak=peak, jit=True)
        _measure(f"style {SIZE}px batch 8 mixed_bfloat16", 8, repeats=2, peak=peak, precision="mixed_bfloat16")
    report("style", **{"peak memory MiB": peak_memory_mb()})


if __name__ == "__main__":
    main()
