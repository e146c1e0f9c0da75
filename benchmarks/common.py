"""Measurement helpers shared by the benchmarks: timing statistics, matmul peak, peak memory,
random slices, a synthetic NIfTI case, and the tiny size every benchmark runs at in the tests."""

from __future__ import annotations

import os
import resource
import statistics
import time
from pathlib import Path

import numpy as np

#: set to 1, every benchmark runs at a tiny size: its figures are not measurements (tests)
TINY_ENV = "MRI_GAN_BENCH_TINY"


def tiny() -> bool:
    """Whether to run at the tiny size (``TINY_ENV``)."""
    return os.environ.get(TINY_ENV) == "1"


def timed(fn, repeats: int, warmup: int = 2) -> list[float]:
    """Seconds per call of ``fn`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def rate_stats(seconds: list[float], items_per_call: float) -> dict:
    """Items/s as median, min and max over the timed calls."""
    rates = [items_per_call / s for s in seconds]
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """fp32 matmul GFLOP/s measured now, in this process (the roofline for the ratio)."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    mm = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    secs = timed(lambda: mm(a, b).numpy(), repeats)
    return 2 * n ** 3 / min(secs) / 1e9


def random_slices(n: int, size: int, seed: int = 0):
    """A SliceSet of ``n`` uniform-noise slices, all four sequences, a disc of tumour in each
    (speed does not depend on the content)."""
    from mri_gan.data.slice_set import SliceSet

    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (n, size, size, 4)).astype(np.float32)
    yy, xx = np.mgrid[:size, :size] / size
    tumour = np.broadcast_to((yy - 0.4) ** 2 + (xx - 0.6) ** 2 < 0.01, (n, size, size))
    brain = np.ones((n, size, size), bool)
    return SliceSet(images, np.ones((n, 4), bool), np.zeros(n, np.int32), ["a"],
                    np.array([f"s{i}" for i in range(n)]), np.zeros(n, np.int32), brain, tumour.copy(),
                    np.ones(n, bool), "random", "random")


def peak_memory_mb() -> float:
    """Peak resident memory of this process (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_flops_per_call(concrete_fn) -> float | None:
    """FLOPs of a traced tf.function's graph, from TensorFlow's profiler (None if unavailable)."""
    try:
        from tensorflow.python.profiler import model_analyzer, option_builder

        opts = option_builder.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"
        info = model_analyzer.profile(concrete_fn.graph, options=opts)
        return float(info.total_float_ops)
    except Exception:  # the profiler is optional
        return None


def report(name: str, **figures) -> None:
    """Print one workload's figures on one line each, `name: key = value`."""
    for key, value in figures.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.4g}"
        print(f"{name}: {key} = {value}", flush=True)


def write_case(folder: Path, sequences=("t1", "t2"), slices: int = 155, name: str = "bench") -> Path:
    """A 240x240x``slices`` skull-stripped case folder (ellipsoid brain, smooth contrast, noise), LPS,
    int16, one ``<name>_<seq>.nii.gz`` per sequence."""
    import nibabel as nib

    rng = np.random.default_rng(0)
    i, j, k = np.meshgrid(*(np.linspace(-1, 1, n, dtype=np.float32) for n in (240, 240, slices)), indexing="ij")
    brain = i ** 2 / 0.6 + j ** 2 / 0.75 + k ** 2 / 0.7 < 1
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    case = Path(folder) / name
    case.mkdir()
    for n, seq in enumerate(sequences):
        vol = (300 + 150 * np.sin(5 * i + n) * np.cos(4 * j) + 20 * rng.standard_normal(brain.shape)) * brain
        nib.save(nib.Nifti1Image(vol.astype(np.int16), affine), case / f"{name}_{seq}.nii.gz")
    return case
