"""Writers killed by SIGKILL: what they leave is never taken for a result, and the next run
clears it (mri_gan.atomic) or continues from it (--resume)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from mri_gan import export
from mri_gan.config import resolve
from mri_gan.run_dir import RunDir
from mri_gan.training.trainer import Trainer

SOURCE = "phantom?subjects=4&size=32&slices=2"   # impute_run's, so the phantom cache serves it


def kill_when(args, ready, tmp_path, timeout=300):
    """Start ``python ARGS...``, SIGKILL it as soon as ``ready()`` holds, wait for it."""
    proc = subprocess.Popen([sys.executable, *map(str, args)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


def hidden(folder):
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or "tmp" in p.name or "_temp" in p.name)


def test_killed_export_leaves_no_version_and_the_next_one_clears_it(impute_run, tmp_path):
    models = tmp_path / "models"
    kill_when(["-m", "mri_gan", "export", "--run", impute_run, "--out", models],
              lambda: models.is_dir() and any(models.iterdir()), tmp_path)
    left = [p.name for p in models.iterdir()]
    assert len(left) == 1 and left[0].startswith(".tmp-") and not left[0].isdigit()   # TF Serving ignores it
    assert export.versions(models) == []
    before = os.umask(0o022)
    try:
        folder = export.export_run(impute_run, models)
    finally:
        os.umask(before)
    assert [p.name for p in models.iterdir()] == ["1"] and folder == models / "1"
    assert folder.stat().st_mode & 0o777 == 0o755 and (folder / "saved_model.pb").stat().st_mode & 0o777 == 0o644


def test_killed_training_resumes_to_the_end(tmp_path):
    run = tmp_path / "run"
    args = ["-m", "mri_gan.train", "--model", "dcgan", "--preset", "smoke", "--data", SOURCE, "--out", run,
            "--no-progress", "--set", "steps=1000", "--set", "checkpoint_every=1"]
    kill_when(args, lambda: (run / "checkpoints" / "checkpoint").exists(), tmp_path)
    killed_at = int(RunDir(run).checkpoints()[0].rsplit("-", 1)[1])
    cfg = resolve("dcgan", "smoke", SOURCE, {"steps": killed_at + 2, "checkpoint_every": 1})
    Trainer(cfg, run, resume=True, progress=False).fit()
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, killed_at + 3))
    sessions = json.loads((run / "model.json").read_text())["runtime"]
    assert [s["from_step"] for s in sessions] == [0, killed_at]
    assert hidden(run) == []
