"""RunDir: the files of a run directory, read and written in one place."""

from __future__ import annotations

import numpy as np
import pytest

from mri_gan.config import resolve
from mri_gan.errors import UserError
from mri_gan.run_dir import RunDir, load_run


def hidden(folder):
    return sorted(p.name for p in folder.rglob(".*"))


@pytest.fixture
def run(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.save_config(resolve("dcgan", "smoke", "synthetic"))
    run.save_meta({"label_names": ["no_tumor", "tumor"]})
    return run


def test_config_and_meta_round_trip(run):
    cfg, meta = run.load()
    assert cfg == resolve("dcgan", "smoke", "synthetic")
    assert meta == {"label_names": ["no_tumor", "tumor"]}
    assert load_run(run.path) == (cfg, meta)
    assert run.is_run() and not RunDir(run.path / "elsewhere").is_run()
    assert hidden(run.path) == []


@pytest.mark.parametrize("make, where, problem", [
    (lambda t: None, "run", "no such run directory"),
    (lambda t: (t / "run").mkdir(), "run", "not a run directory (config.json missing)"),
    (lambda t: RunDir(t / "run").save_config(resolve("dcgan", "smoke", "synthetic")), "run",
     "not a run directory (model.json missing)"),
    (lambda t: (RunDir(t / "run").save_config(resolve("dcgan", "smoke", "synthetic")),
                (t / "run" / "model.json").write_text("{not json")), "run/model.json", "not valid JSON"),
])
def test_not_a_run_is_one_line(tmp_path, make, where, problem):
    make(tmp_path)
    with pytest.raises(UserError) as err:
        RunDir(tmp_path / "run").load()
    assert err.value.where == str(tmp_path / where) and problem in err.value.problem
    assert "\n" not in str(err.value)


def test_failed_write_keeps_the_saved_file(run):
    before = run.model_file.read_text()
    with pytest.raises(TypeError):
        run.save_meta({"label_names": object()})
    assert run.model_file.read_text() == before and hidden(run.path) == []


def test_split_round_trip_and_overlap_refused(run):
    assert not run.has_split()
    split = {"train": ["a", "b"], "val": ["c"], "test": ["d"]}
    run.save_split(split)
    assert run.has_split() and run.split() == split
    with pytest.raises(UserError, match="'a' is in both train and test"):
        run.save_split({"train": ["a"], "val": [], "test": ["a"]})
    assert run.split() == split and hidden(run.path) == []


def test_metrics_append_read_and_truncate(run):
    assert run.metrics() == []
    for step in (1, 2, 3):
        run.append_metrics({"step": step, "d_loss": step / 10})
    with open(run.metrics_file, "a") as f:
        f.write('{"step": 4, "d_lo')   # a line cut short by a kill
    with pytest.raises(UserError, match="line 4 is not JSON"):
        run.metrics()
    run.truncate_metrics(2)
    assert run.metrics() == [{"step": 1, "d_loss": 0.1}, {"step": 2, "d_loss": 0.2}]
    assert hidden(run.path) == []


def test_checkpoints_newest_first_and_the_best_apart(run):
    import tensorflow as tf

    assert run.checkpoints() == [] and run.checkpoints(best=True) == [] and run.best_record() is None
    step = tf.Variable(0)
    ckpt = tf.train.Checkpoint(step=step)
    latest = tf.train.CheckpointManager(ckpt, str(run.checkpoint_dir()), 2)
    best = tf.train.CheckpointManager(ckpt, str(run.checkpoint_dir(best=True)), 1)
    for n in (1, 2, 3):
        latest.save(checkpoint_number=n)
    best.save(checkpoint_number=2)
    run.save_best_record(2, "val_ssim", 0.5)
    assert [p.rsplit("/", 1)[1] for p in run.checkpoints()] == ["ckpt-3", "ckpt-2"]
    assert run.checkpoints(best=True) == [str((run.checkpoint_dir(best=True) / "ckpt-2").absolute())]
    assert run.best_record() == {"step": 2, "metric": "val_ssim", "value": 0.5}


def test_samples_in_step_order(run):
    import cv2

    run.samples_dir.mkdir()
    grids = {step: np.full((4, 8), step, np.uint8) for step in (10, 2)}
    for step, grid in grids.items():
        run.save_sample(step, grid)
    assert [p.name for p in run.samples()] == ["step_0000002.png", "step_0000010.png"]
    np.testing.assert_array_equal(cv2.imread(str(run.samples()[-1]), cv2.IMREAD_GRAYSCALE), grids[10])
    assert RunDir(run.path / "none").samples() == []


def test_generated_samples(run):
    assert run.generated_samples() is None
    (run.path / "generated").mkdir()
    np.savez(run.path / "generated" / "samples.npz", images=np.zeros((1, 4, 4, 1)))
    assert run.generated_samples() == run.path / "generated" / "samples.npz"
    np.savez(run.path / "samples.npz", images=np.zeros((1, 4, 4, 1)))
    assert run.generated_samples() == run.path / "samples.npz"

