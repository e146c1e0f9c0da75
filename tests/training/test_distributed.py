"""Multi-worker training on loopback: parity with one process, a killed worker, checkpoint fallback."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, make_slices

from mri_gan.config import resolve
from mri_gan.inference import load_task
from mri_gan.training.trainer import Trainer

SOURCE = "phantom?subjects=6&size=32"
TRAIN = ["--model", "dcgan", "--data", SOURCE, "--preset", "smoke", "--no-progress"]


def weights(task):
    return [v.numpy() for v in task.generator.weights + task.discriminator.weights]


def steps_logged(run):
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_workers_equal_one_process(tmp_path, cli):
    cli("train", *TRAIN, "--out", tmp_path / "one", check=0)
    proc = cli("launch-local", "--workers", "2", "--timeout", "400", "--", *TRAIN,
               "--out", tmp_path / "two", timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for a, b in zip(weights(load_task(tmp_path / "one")), weights(load_task(tmp_path / "two"))):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # only the chief wrote into the run directory, and the other worker cleaned up
    assert steps_logged(tmp_path / "two") == steps_logged(tmp_path / "one")
    [session] = json.loads((tmp_path / "two" / "model.json").read_text())["runtime"]
    assert (session["strategy"], session["workers"], session["replicas"]) == ("multiworker", 2, 2)


def worker_pids(run, index):
    """PIDs of training processes for ``run`` whose TF_CONFIG names task ``index``."""
    found = []
    for pid in subprocess.run(["pgrep", "-f", "mri_gan.train"], capture_output=True, text=True).stdout.split():
        try:
            cmd = open(f"/proc/{pid}/cmdline").read()
            env = open(f"/proc/{pid}/environ").read()
        except OSError:
            continue
        if str(run) in cmd and f'"index": {index}}}' in env:
            found.append(int(pid))
    return found


@pytest.mark.slow
def test_killed_worker_stops_job_and_relaunch_resumes(tmp_path):
    run = tmp_path / "run"
    base = [*TRAIN, "--out", str(run), "--set", "checkpoint_every=5", "--set", "sample_every=1000",
            "--set", "log_every=1"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MRI_GAN_COLLECTIVE_TIMEOUT="60")
    launch = [sys.executable, "-m", "mri_gan", "launch-local", "--workers", "2", "--grace", "5", "--"]
    launcher = subprocess.Popen(launch + base + ["--set", "steps=400"], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill_at = int(np.random.default_rng().integers(6, 15))
    deadline = time.monotonic() + 300
    log = run / "metrics.jsonl"
    while not (log.exists() and len(log.read_text().splitlines()) >= kill_at):
        assert launcher.poll() is None, launcher.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.2)
    victims = worker_pids(run, 1)
    assert victims
    os.kill(victims[0], signal.SIGKILL)
    _, err = launcher.communicate(timeout=120)  # bounded: the job stops, never hangs
    assert launcher.returncode != 0
    assert "worker 1 exited" in err
    assert not worker_pids(run, 0)
    relaunch = subprocess.run(launch + base + ["--set", "steps=30", "--resume"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=400)
    assert relaunch.returncode == 0, relaunch.stderr[-3000:]
    assert steps_logged(run) == list(range(1, 31))


def test_truncated_newest_checkpoint_falls_back(tmp_path, capfd):
    data = make_slices(subjects=6, per_subject=3, size=32)
    cfg = resolve("dcgan", "smoke", "synthetic", {"steps": 4})
    Trainer(cfg, tmp_path / "r", data=data, progress=False).fit()
    newest = tmp_path / "r" / "checkpoints" / "ckpt-4.data-00000-of-00001"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 3])
    resumed = Trainer(resolve("dcgan", "smoke", "synthetic", {"steps": 6}), tmp_path / "r", data=data,
                      resume=True, progress=False)
    resumed.fit()
    assert "ckpt-4: unreadable checkpoint" in capfd.readouterr().err
    assert steps_logged(tmp_path / "r") == [1, 2, 3, 4, 5, 6]
