"""glibc malloc settings applied by the CLI before TensorFlow starts, and kept by the trainer."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")

CHURN = """
import ctypes, ctypes.util, resource, sys, threading
from mri_gan.allocator import keep_freed_memory
if sys.argv[1] != "default":
    assert keep_freed_memory()
if sys.argv[1] == "train":   # a training run, whose dataset resets glibc's trim threshold
    import tempfile
    sys.path.insert(0, sys.argv[2])
    from conftest import make_slices
    from mri_gan.config import resolve
    from mri_gan.training.trainer import Trainer
    Trainer(resolve("dcgan", "smoke", "synthetic"), tempfile.mkdtemp(), data=make_slices(),
            progress=False).fit()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size, count = 4 << 20, 64

def steps():                 # each: 256 MiB of activations allocated, then all freed
    for _ in range(10):
        blocks = [libc.malloc(size) for _ in range(count)]
        for block in blocks:
            ctypes.memset(block, 1, size)
        for block in blocks:
            libc.free(block)

before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
worker = threading.Thread(target=steps)   # in a thread's arena, as TensorFlow's kernels run
worker.start()
worker.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
STEP_PAGES = (64 * (4 << 20)) // 4096


def page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHURN, mode, str(Path(__file__).parent)],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def test_freed_memory_is_reused_without_page_faults():
    assert page_faults("default") > 5 * STEP_PAGES   # glibc hands the memory back each step
    assert page_faults("keep") < 2 * STEP_PAGES      # faulted in once, then reused


def test_training_keeps_the_setting_its_dataset_resets():
    assert page_faults("train") < 2 * STEP_PAGES
