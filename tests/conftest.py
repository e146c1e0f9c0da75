"""Shared fixtures: the real data folder (skipped when absent) and the CLI through subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """../shared/data, or a clean skip in a user's fresh clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cli():
    """Run `python -m mri_gan ARGS...`; returns the CompletedProcess (text mode)."""

    def run(*args, check=None, timeout=600, env=None, cwd=None):
        full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
        proc = subprocess.run([sys.executable, "-m", "mri_gan", *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, env=full_env, cwd=cwd or ROOT)
        if check is not None:
            assert proc.returncode == check, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
        return proc

    return run
