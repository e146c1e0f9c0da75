"""Shared fixtures: the real data folder (skipped when absent), the CLI through subprocess, a tiny
imputation run."""

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


@pytest.fixture(scope="session")
def impute_run(tmp_path_factory):
    """A tiny pix2pix imputation run (``--target any``, linear base, instance norm, 2 steps)."""
    from mri_gan.config import resolve
    from mri_gan.training.trainer import Trainer

    run = tmp_path_factory.mktemp("runs") / "impute"
    cfg = resolve("pix2pix", "smoke", "phantom?subjects=4&size=32&slices=2",
                  {"steps": 2, "target": "any", "linear_base": True, "unet_norm": "instance"})
    Trainer(cfg, run, progress=False).fit()
    return run


def make_slices(subjects: int = 6, per_subject: int = 4, size: int = 32, seed: int = 0,
                labels=("tumor", "no_tumor")):
    """A small in-memory SliceSet of smooth random 4-sequence images (no reader involved)."""
    import numpy as np

    from mri_gan.data.records import SEQUENCES, Record
    from mri_gan.data.slice_set import from_records

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    records = []
    for s in range(subjects):
        for k in range(per_subject):
            base = 0.5 + 0.4 * np.sin(6 * xx + rng.uniform(0, 3)) * np.cos(5 * yy + rng.uniform(0, 3))
            images = {q: np.clip(base * (0.6 + 0.1 * i) + 0.05 * rng.standard_normal(base.shape), 0, 1)
                      .astype(np.float32) for i, q in enumerate(SEQUENCES)}
            mask = (xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.16
            records.append(Record(f"s{s:02d}", k, images, labels[s % len(labels)], mask, mask & (xx > 0.5),
                                  "synthetic"))
    return from_records(records, size, source="synthetic", kind="synthetic")
