"""The training engine: run directory, exact resume, refusals, NaN stop, replica parity."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT, make_slices

from mri_gan.config import resolve
from mri_gan.errors import UserError
from mri_gan.inference import load_task
from mri_gan.training.runtime import describe
from mri_gan.training.trainer import Trainer, TrainingStopped


@pytest.fixture(scope="module")
def data():
    return make_slices(subjects=8, per_subject=3, size=32)


def weights(task):
    return [v.numpy() for v in task.generator.weights + task.discriminator.weights]


def test_run_directory_contract(tmp_path, data):
    cfg = resolve("cdcgan", "smoke", "synthetic")
    last = Trainer(cfg, tmp_path / "run", data=data, progress=False).fit()
    run = tmp_path / "run"
    for name in ("config.json", "split.json", "model.json", "metrics.jsonl"):
        assert (run / name).is_file(), name
    assert any((run / "checkpoints").glob("ckpt-*.index"))
    assert sorted(p.name for p in (run / "samples").glob("*.png"))
    assert any((run / "tensorboard").iterdir())
    split = json.loads((run / "split.json").read_text())
    assert not set(split["train"]) & set(split["val"]) and not set(split["train"]) & set(split["test"])
    entries = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in entries] == list(range(1, cfg.steps + 1))
    for key in ("step", "epoch", "images_per_s", "d_loss", "g_loss", "d_acc_real", "d_acc_fake"):
        assert key in entries[-1]
    assert last["step"] == cfg.steps
    assert json.loads((run / "config.json").read_text())["model"] == "cdcgan"
    [session] = json.loads((run / "model.json").read_text())["runtime"]
    assert {k: session[k] for k in ("from_step", "strategy", "replicas", "workers", "precision")} == {
        "from_step": 0, "strategy": "default", "replicas": 1, "workers": 1, "precision": "float32"}
    assert len(session["devices"]) == 1
    assert {"mri_gan", "tensorflow", "keras", "python", "git_commit"} <= set(session["versions"])
    assert describe([session]).startswith("default strategy, 1 replica(s) on 1 worker(s)")


def test_a_given_split_is_the_runs_split(tmp_path, data, capfd):
    given = {"train": ["s00", "s01", "s02"], "val": ["s03"], "test": ["s05"]}
    (tmp_path / "mine.json").write_text(json.dumps(given))
    cfg = resolve("dcgan", "smoke", "synthetic", {"steps": 1})
    trainer = Trainer(cfg, tmp_path / "run", data=data, progress=False, split_file=tmp_path / "mine.json")
    trainer.fit()
    assert json.loads((tmp_path / "run" / "split.json").read_text()) == given
    assert "3 subject(s) of synthetic are in no list and not used" in capfd.readouterr().err
    other = {"train": ["s00", "s01"], "val": ["s03"], "test": ["s05"]}
    (tmp_path / "other.json").write_text(json.dumps(other))
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    longer = resolve("dcgan", "smoke", "synthetic", {"steps": 2})
    with pytest.raises(UserError, match="differs from the split of the run"):
        Trainer(longer, tmp_path / "run", data=data, resume=True, progress=False,
                split_file=tmp_path / "other.json").fit()
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before
    (tmp_path / "bad.json").write_text(json.dumps({"train": ["s99"]}))
    with pytest.raises(UserError, match="not in the data: s99"):
        Trainer(cfg, tmp_path / "new", data=data, progress=False, split_file=tmp_path / "bad.json").fit()
    assert not (tmp_path / "new").exists()


def test_exact_resume(tmp_path, data):
    full = resolve("dcgan", "smoke", "synthetic", {"steps": 4})
    one = Trainer(full, tmp_path / "a", data=data, progress=False)
    one.fit()
    half = resolve("dcgan", "smoke", "synthetic", {"steps": 2})
    Trainer(half, tmp_path / "b", data=data, progress=False).fit()
    two = Trainer(full, tmp_path / "b", data=data, resume=True, progress=False)
    two.fit()
    for a, b in zip(weights(one.task), weights(two.task)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    sessions = json.loads((tmp_path / "b" / "model.json").read_text())["runtime"]
    assert [s["from_step"] for s in sessions] == [0, 2] and "; resumed at step 2: " in describe(sessions)
    # a resumed run loads for inference with the final weights
    restored = load_task(tmp_path / "b")
    for a, b in zip(weights(two.task), weights(restored)):
        np.testing.assert_allclose(a, b, atol=0)


def test_resume_refuses_changed_config(tmp_path, data):
    Trainer(resolve("dcgan", "smoke", "synthetic"), tmp_path / "r", data=data, progress=False).fit()
    changed = resolve("dcgan", "smoke", "synthetic", {"lr_g": 0.1})
    with pytest.raises(UserError, match="lr_g differs"):
        Trainer(changed, tmp_path / "r", data=data, resume=True, progress=False).fit()
    with pytest.raises(UserError, match="already holds a run"):
        Trainer(resolve("dcgan", "smoke", "synthetic"), tmp_path / "r", data=data, progress=False).fit()


def test_late_refusal_leaves_no_run_folder(tmp_path, data, monkeypatch):
    """A refusal after the run folder was made removes what this run created, nothing more."""
    def refuse(*args):
        raise UserError("somewhere", "refused late")

    monkeypatch.setattr(Trainer, "_write_meta", refuse)
    with pytest.raises(UserError, match="refused late"):
        Trainer(resolve("dcgan", "smoke", "synthetic"), tmp_path / "a" / "b" / "run", data=data, progress=False).fit()
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    with pytest.raises(UserError, match="refused late"):
        Trainer(resolve("dcgan", "smoke", "synthetic"), tmp_path / "kept", data=data, progress=False).fit()
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]


def test_float32_pix2pix_step_logs_nothing(tmp_path, data, capfd):
    """Grappler's remapper, which fails on this step graph with an error line, stays out of it."""
    capfd.readouterr()
    Trainer(resolve("pix2pix", "smoke", "synthetic", {"steps": 2}), tmp_path / "run", data=data,
            progress=False).fit()
    assert "remapper" not in capfd.readouterr().err


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path, data, monkeypatch):
    cfg = resolve("dcgan", "smoke", "synthetic", {"steps": 6})
    from mri_gan.models.dcgan import DCGAN

    original = DCGAN.replica_step

    def poisoned(self, batch, global_batch):
        import tensorflow as tf

        logs = original(self, batch, global_batch)
        bad = tf.cast(self.g_opt.iterations >= 3, tf.float32) * np.float32(np.nan)
        logs["g_loss"] = logs["g_loss"] + tf.where(self.g_opt.iterations >= 3, bad, 0.0)
        return logs

    monkeypatch.setattr(DCGAN, "replica_step", poisoned)
    with pytest.raises(TrainingStopped, match="g_loss is nan"):
        Trainer(cfg, tmp_path / "n", data=data, progress=False).fit()
    kept = sorted(p.name for p in (tmp_path / "n" / "checkpoints").glob("ckpt-*.index"))
    assert kept == ["ckpt-2.index"]


def test_replica_parity_two_cpus(tmp_path):
    """MirroredStrategy over 2 logical CPUs == one device with the same global batch; XLA is
    refused there."""
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from conftest import make_slices
        from mri_gan.config import resolve
        from mri_gan.errors import UserError
        from mri_gan.training.trainer import Trainer
        data = make_slices(subjects=8, per_subject=3, size=32)
        out = []
        for name in ("default", "mirrored"):
            cfg = resolve("cdcgan", "smoke", "synthetic", {{"steps": 3}})
            t = Trainer(cfg, {str(tmp_path)!r} + "/" + name, strategy=name, data=data, progress=False)
            assert t.strategy.num_replicas_in_sync == (2 if name == "mirrored" else 1)
            t.fit()
            [session] = t.task.meta["runtime"]
            assert (session["strategy"], session["replicas"], len(session["devices"])) == (
                name, t.strategy.num_replicas_in_sync, t.strategy.num_replicas_in_sync)
            out.append([v.numpy() for v in t.task.generator.weights + t.task.discriminator.weights])
        try:
            Trainer(resolve("cdcgan", "smoke", "synthetic", {{"jit_compile": True}}), {str(tmp_path)!r} + "/x",
                    strategy="mirrored", data=data)
        except UserError as err:
            print("refused:", err)
        print(max(float(np.max(np.abs(a - b))) for a, b in zip(*out)))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.strip().splitlines()[-1]) <= 1e-5
    assert "refused: --set jit_compile: XLA compiles the step for one replica" in proc.stdout


@pytest.mark.parametrize("model,overrides", [("pggan", {}), ("pix2pix", {"dropout": 0})])
def test_xla_step_trains_the_same_weights(tmp_path, data, model, overrides):
    """jit_compile=true: every growth stage and batch-norm model compiles and matches the plain
    step (dropout off: XLA draws other random numbers)."""
    runs = [Trainer(resolve(model, "smoke", "synthetic", {**overrides, "jit_compile": jit == "true"}), tmp_path / jit,
                    data=data, progress=False) for jit in ("false", "true")]
    for run in runs:
        run.fit()
    plain, xla = (weights(run.task) for run in runs)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(plain, xla)) < 1e-4


def test_exact_resume_of_augmented_imputation_and_input_wait_logged(tmp_path, data):
    """In-graph batches (flips, warps, hidden sequences) are a function of (seed, step) alone."""
    sets = {"target": "any", "flip": True, "rotate": 10, "zoom": 0.1, "hide_weights": [3.0, 2.0, 1.0],
            "dropout": 0}   # Keras dropout draws from a generator the checkpoint does not hold
    one = Trainer(resolve("pix2pix", "smoke", "synthetic", {**sets, "steps": 4}), tmp_path / "a", data=data,
                  progress=False)
    one.fit()
    Trainer(resolve("pix2pix", "smoke", "synthetic", {**sets, "steps": 2}), tmp_path / "b", data=data,
            progress=False).fit()
    two = Trainer(resolve("pix2pix", "smoke", "synthetic", {**sets, "steps": 4}), tmp_path / "b", data=data,
                  resume=True, progress=False)
    two.fit()
    for a, b in zip(weights(one.task), weights(two.task)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    entries = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all(0 <= e["input_wait"] <= 1 for e in entries)


def test_precision_auto_is_bf16_where_the_hardware_has_it(tmp_path, data):
    from mri_gan.training import precision

    assert precision.choose([], frozenset({"avx2", "avx512_bf16"})) == "mixed_bfloat16"
    assert precision.choose([], frozenset({"avx2", "amx_bf16"})) == "mixed_bfloat16"
    assert precision.choose([], frozenset({"avx2", "avx512f"})) == "float32"
    assert precision.choose([(8, 0), (9, 0)], frozenset()) == "mixed_bfloat16"
    assert precision.choose([(7, 5)], frozenset({"amx_bf16"})) == "float32"       # the GPU computes
    assert precision.resolve("mixed_float16") == "mixed_float16"
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx512_bf16 amx_tile\n\nprocessor\t: 1\n")
    assert precision.cpu_flags(cpuinfo) == {"fpu", "sse", "avx512_bf16", "amx_tile"}
    assert precision.cpu_flags(tmp_path / "absent") == frozenset()
    resolved = precision.resolve("auto")
    assert resolved in ("float32", "mixed_bfloat16")
    Trainer(resolve("dcgan", "smoke", "synthetic", {"precision": "auto"}), tmp_path / "run", data=data,
            progress=False).fit()
    [session] = json.loads((tmp_path / "run" / "model.json").read_text())["runtime"]
    assert (session["precision"], session["precision_setting"]) == (resolved, "auto")
    import keras

    assert keras.mixed_precision.global_policy().name == "float32"                # restored after the run
