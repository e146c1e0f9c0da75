"""glibc malloc settings applied by the CLI before TensorFlow starts."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")

CHURN = """
import ctypes, ctypes.util, resource, sys
from mri_gan.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size, count = 4 << 20, 64
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):          # steps: 256 MiB of activations allocated, then all freed
    blocks = [libc.malloc(size) for _ in range(count)]
    for block in blocks:
        ctypes.memset(block, 1, size)
    for block in blocks:
        libc.free(block)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
STEP_PAGES = (64 * (4 << 20)) // 4096


def page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_freed_memory_is_reused_without_page_faults():
    assert page_faults("default") > 5 * STEP_PAGES   # glibc hands the heap back each step
    assert page_faults("keep") < 2 * STEP_PAGES      # faulted in once, then reused
