"""The mixed-precision policy a run trains in: ``precision=auto`` resolved at run time.

bf16 (``mixed_bfloat16``) where the hardware computes it natively: GPUs of compute capability
8.0 or above (Ampere and later), or, without a GPU, a CPU with AVX-512 BF16 or AMX (Linux's
/proc/cpuinfo flags); float32 elsewhere. The trainer records the resolved policy in model.json.
"""

from __future__ import annotations

from pathlib import Path

AUTO = "auto"
#: /proc/cpuinfo flags of CPUs that compute bf16 natively
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first CPU's feature flags (empty where /proc/cpuinfo is absent, as on macOS)."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return frozenset()
    return next((frozenset(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")),
                frozenset())


def choose(gpu_capabilities: list[tuple[int, int]], flags: frozenset[str]) -> str:
    """bf16 when every GPU is Ampere or later, or there is none and the CPU has ``BF16_CPU_FLAGS``."""
    if gpu_capabilities:
        native = all(tuple(c) >= (8, 0) for c in gpu_capabilities)
    else:
        native = bool(flags & BF16_CPU_FLAGS)
    return "mixed_bfloat16" if native else "float32"


def resolve(precision: str) -> str:
    """``precision``, or for ``auto`` the policy this machine's devices run fastest without losing range."""
    if precision != AUTO:
        return precision
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    capabilities = [tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)) for g in gpus]
    return choose(capabilities, cpu_flags())
