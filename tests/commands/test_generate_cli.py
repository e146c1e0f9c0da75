"""Training, generation and balancing through the CLI on the embedded phantom."""

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import ROOT

SOURCE = "phantom?subjects=6&size=32"


@pytest.fixture(scope="module")
def cdcgan_run(tmp_path_factory, cli):
    run = tmp_path_factory.mktemp("runs") / "cdcgan"
    cli("train", "--model", "cdcgan", "--data", SOURCE, "--preset", "smoke", "--out", run, check=0)
    return run


def test_python_m_train_is_the_same_program(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mri_gan.train", "--model", "dcgan", "--data", SOURCE,
                           "--preset", "smoke", "--set", "steps=2", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "run: " in proc.stdout and (tmp_path / "r" / "checkpoints" / "checkpoint").exists()


def test_generate_layout_and_labels(cdcgan_run, tmp_path, cli):
    labels = json.loads((cdcgan_run / "model.json").read_text())["label_names"]
    out = tmp_path / "gen"
    cli("generate", "--run", cdcgan_run, "--n", 5, "--label", labels[0], "--seed", 3, "--out", out, check=0)
    pngs = sorted((out / labels[0]).glob("*.png"))
    assert len(pngs) == 5
    assert cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED).dtype == np.uint8
    npz = np.load(out / "samples.npz")
    assert npz["images"].shape == (5, 32, 32, 1) and npz["images"].dtype == np.float32
    assert np.abs(npz["images"]).max() <= 1.0 and set(npz["labels"]) == {0}
    again = tmp_path / "gen2"
    cli("generate", "--run", cdcgan_run, "--n", 5, "--label", labels[0], "--seed", 3, "--out", again, check=0)
    np.testing.assert_array_equal(np.load(again / "samples.npz")["images"], npz["images"])


def test_generate_errors(cdcgan_run, tmp_path, cli):
    proc = cli("generate", "--run", cdcgan_run, "--n", 2, "--label", "unicorn", "--out", tmp_path / "x")
    assert proc.returncode == 2 and "unknown label 'unicorn'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
    proc = cli("generate", "--run", tmp_path, "--n", 2, "--out", tmp_path / "y")
    assert proc.returncode == 2 and "not a run directory" in proc.stderr


def test_label_on_unconditional_model_is_an_error(tmp_path, cli):
    run = tmp_path / "dcgan"
    cli("train", "--model", "dcgan", "--data", SOURCE, "--preset", "smoke", "--set", "steps=1", "--out", run,
        check=0)
    proc = cli("generate", "--run", run, "--n", 2, "--label", "tumor", "--out", tmp_path / "g")
    assert proc.returncode == 2 and "unconditional" in proc.stderr and "Traceback" not in proc.stderr


def test_balance_brings_every_class_to_the_majority(cdcgan_run, tmp_path, cli):
    out = tmp_path / "balanced"
    proc = cli("balance", "--run", cdcgan_run, "--data", SOURCE, "--out", out, check=0)
    counts = {d.name: len(list(d.glob("*.png"))) for d in out.iterdir()}
    assert len(set(counts.values())) == 1, counts
    summary = json.loads(proc.stdout)["classes"]
    assert max(c["real"] for c in summary.values()) == counts[next(iter(counts))]
    assert any(c["synthetic"] > 0 for c in summary.values())


def test_bad_arguments_are_one_line_errors(tmp_path, cli):
    for args, message in [(["--model", "dcgan", "--set", "nonsense=1"], "unknown config key"),
                          (["--model", "dcgan", "--set", "batch_size=abc"], "not a valid int"),
                          (["--model", "dcgan", "--data", "nosuchkind:x"], "unknown data source kind")]:
        proc = cli("train", *args, "--out", tmp_path / "r")
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines


@pytest.mark.slow
def test_sigterm_leaves_a_loadable_checkpoint(tmp_path):
    run = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "mri_gan", "train", "--model", "dcgan", "--data", SOURCE,
                             "--preset", "smoke", "--set", "steps=100000", "--set", "checkpoint_every=100000",
                             "--no-progress", "--out", str(run)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    deadline = time.monotonic() + 300
    while not ((run / "metrics.jsonl").exists() and len((run / "metrics.jsonl").read_text().splitlines()) >= 3):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    from mri_gan.inference import load_task

    task = load_task(run)  # restores the checkpoint written on the signal
    step = int(sorted(p.name for p in (run / "checkpoints").glob("ckpt-*.index"))[-1][5:-6])
    assert step >= 3 and task.generator.weights
