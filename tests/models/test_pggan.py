"""Progressive GAN: growth schedule tables, the task's batches, losses and running average,
exact resume mid-fade, and smoke training through the CLI with `generate` on the run."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import make_slices
from hypothesis import given, settings
from hypothesis import strategies as st

from mri_gan.config import resolve
from mri_gan.errors import UserError
from mri_gan.models.pggan import PGGAN
from mri_gan.models.pggan_schedule import GrowthSchedule
from mri_gan.training.trainer import Trainer

# -- schedule ------------------------------------------------------------------------------

# (index, resolution, level, fading, batch, first_step, first_image, steps)
TABLE_CONSTANT = [(0, 4, 0, False, 10, 0, 0, 10), (1, 8, 1, True, 10, 10, 100, 10),
                  (2, 8, 1, False, 10, 20, 200, 10), (3, 16, 2, True, 10, 30, 300, 10),
                  (4, 16, 2, False, 10, 40, 400, None)]
TABLE_GROWING_BATCH = [(0, 4, 0, False, 32, 0, 0, 2), (1, 8, 1, True, 32, 2, 64, 2),
                       (2, 8, 1, False, 32, 4, 128, 2), (3, 16, 2, True, 16, 6, 192, 4),
                       (4, 16, 2, False, 16, 10, 256, 4), (5, 32, 3, True, 8, 14, 320, 8),
                       (6, 32, 3, False, 8, 22, 384, None)]
TABLE_ROUNDED_UP = [(0, 8, 0, False, 12, 0, 0, 9), (1, 16, 1, True, 12, 9, 108, 9),
                    (2, 16, 1, False, 12, 18, 216, None)]


@pytest.mark.parametrize("schedule,table", [
    (GrowthSchedule(4, 16, 100, 10), TABLE_CONSTANT),
    (GrowthSchedule(4, 32, 64, 8, max_batch_size=32), TABLE_GROWING_BATCH),
    (GrowthSchedule(8, 16, 100, 12), TABLE_ROUNDED_UP),     # 100 images -> 9 steps of 12
])
def test_stage_tables(schedule, table):
    got = [(s.index, s.resolution, s.level, s.fading, s.batch, s.first_step, s.first_image, s.steps)
           for s in schedule.stages]
    assert got == table
    assert schedule.growth_steps == table[-1][5]


@pytest.mark.parametrize("images,stage,resolution,alpha", [
    (0, 0, 4, 1.0), (99, 0, 4, 1.0), (100, 1, 8, 0.0), (150, 1, 8, 0.5), (190, 1, 8, 0.9),
    (200, 2, 8, 1.0), (330, 3, 16, 0.3), (400, 4, 16, 1.0), (10 ** 9, 4, 16, 1.0)])
def test_phase_of_images_seen(images, stage, resolution, alpha):
    phase = GrowthSchedule(4, 16, 100, 10).at_images(images)
    assert (phase.stage.index, phase.stage.resolution) == (stage, resolution)
    assert phase.alpha == pytest.approx(alpha)


@pytest.mark.parametrize("step,stage,alpha", [(0, 0, 1.0), (2, 1, 0.0), (3, 1, 0.5), (6, 3, 0.0),
                                              (9, 3, 0.75), (13, 4, 1.0), (14, 5, 0.0), (21, 5, 0.875),
                                              (500, 6, 1.0)])
def test_phase_of_step(step, stage, alpha):
    phase = GrowthSchedule(4, 32, 64, 8, max_batch_size=32).at_step(step)
    assert phase.stage.index == stage and phase.alpha == pytest.approx(alpha)


@pytest.mark.parametrize("total,segments", [
    (5, [(0, 2, 32), (2, 4, 32), (4, 5, 32)]),
    (14, [(0, 2, 32), (2, 4, 32), (4, 6, 32), (6, 10, 16), (10, 14, 16)]),
    (30, [(0, 2, 32), (2, 4, 32), (4, 6, 32), (6, 10, 16), (10, 14, 16), (14, 22, 8), (22, 30, 8)])])
def test_segments(total, segments):
    assert GrowthSchedule(4, 32, 64, 8, max_batch_size=32).segments(total) == segments


@settings(max_examples=60, deadline=None)
@given(start=st.sampled_from([4, 8]), doublings=st.integers(0, 4), per_stage=st.integers(1, 500),
       batch=st.integers(1, 40), max_batch=st.integers(0, 128), total=st.integers(1, 400))
def test_schedule_invariants(start, doublings, per_stage, batch, max_batch, total):
    s = GrowthSchedule(start, start * 2 ** doublings, per_stage, batch, max_batch)
    segments = s.segments(total)
    assert segments[0][0] == 0 and segments[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(segments, segments[1:]))      # contiguous
    phases = [s.at_step(k) for k in range(total)]
    for a, b in zip(phases, phases[1:]):
        assert b.stage.resolution >= a.stage.resolution
        assert b.images == a.images + a.stage.batch                        # images seen add up
        if a.stage is b.stage and a.stage.fading:
            assert 0 <= a.alpha < b.alpha < 1                              # alpha rises in a fade
        assert s.at_images(b.images) == b                                  # step view == image view
    assert all(p.alpha == 1.0 for p in phases if not p.stage.fading)


def test_schedule_refuses_bad_sizes():
    with pytest.raises(ValueError):
        GrowthSchedule(4, 24, 10, 2)
    with pytest.raises(ValueError):
        GrowthSchedule(2, 16, 10, 2)


# -- the task ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data():
    return make_slices(subjects=8, per_subject=3, size=16)


def test_make_batch_downsamples_and_fades_reals(data):
    cfg = resolve("pggan", "smoke", "synthetic")         # 8 stable (2 steps), 16 fade (4), 16 stable
    task = PGGAN(cfg, {"label_names": data.label_names})
    index = np.arange(4)
    stable = task.make_batch(data, index, np.random.default_rng(0), 0)
    assert stable["image"].shape == (4, 8, 8, 1) and "alpha" not in stable
    full = data.channels(["t1"], index)
    np.testing.assert_allclose(stable["image"], full.reshape(4, 8, 2, 8, 2, 1).mean((2, 4)), atol=1e-6)
    start = task.make_batch(data, index, np.random.default_rng(0), 2)     # first fade step: alpha 0
    np.testing.assert_array_equal(start["alpha"], 0.0)
    np.testing.assert_allclose(start["image"], stable["image"].repeat(2, 1).repeat(2, 2), atol=1e-6)
    mid = task.make_batch(data, index, np.random.default_rng(0), 4)
    np.testing.assert_allclose(mid["alpha"], 0.5)
    assert set(task.batch_spec(4)) == set(mid) and set(task.batch_spec(0)) == set(stable)


def test_flip_mirrors_a_random_half_of_the_reals_stable_and_fading(data):
    cfg = resolve("pggan", "smoke", "synthetic", {"flip": True})
    task = PGGAN(cfg, {"label_names": data.label_names})
    index = np.arange(16) % len(data)
    plain = PGGAN(resolve("pggan", "smoke", "synthetic"), {"label_names": data.label_names})
    for step in (0, 4):                                   # 8 stable, then 16 mid-fade
        images = task.make_batch(data, index, np.random.default_rng(1), step)["image"]
        reals = plain.make_batch(data, index, np.random.default_rng(1), step)["image"]
        mirrored = np.array([np.allclose(a, b[:, ::-1]) for a, b in zip(images, reals)])
        kept = np.array([np.allclose(a, b) for a, b in zip(images, reals)])
        assert mirrored.any() and kept.any() and (mirrored | kept).all()


def test_generate_shows_the_current_stage_at_full_size(data):
    cfg = resolve("pggan", "smoke", "synthetic", {"conditional": True})
    task = PGGAN(cfg, {"label_names": data.label_names})
    task.build()
    z = task.noise(np.random.default_rng(0), 3)
    labels = np.array([0, 1, 1], np.int32)
    task.stage.assign(0)                                  # still at 8x8
    images = task.generate(z, labels)
    assert images.shape == (3, 16, 16, 1)
    np.testing.assert_array_equal(images, images[:, ::2, ::2].repeat(2, 1).repeat(2, 2))
    task.stage.assign(2)                                  # grown to 16x16
    sharp = task.generate(z, labels)
    assert not np.array_equal(sharp, sharp[:, ::2, ::2].repeat(2, 1).repeat(2, 2))
    assert task.sample_grid(data, 0).shape == (2 * 16, 8 * 16)


def test_config_refusals():
    with pytest.raises(UserError, match="conditional"):
        resolve("dcgan", "smoke", "phantom", {"conditional": True})
    with pytest.raises(UserError, match="pggan_loss"):
        resolve("pggan", "smoke", "phantom", {"pggan_loss": "hinge"})
    with pytest.raises(UserError, match="start_size"):
        resolve("pggan", "smoke", "phantom", {"start_size": 32})
    with pytest.raises(UserError, match="augment is for pggan, not dcgan"):
        resolve("dcgan", "smoke", "phantom", {"augment": "translation"})
    with pytest.raises(UserError, match="augment='translation,rotate': unknown rotate"):
        resolve("pggan", "smoke", "phantom", {"augment": "translation,rotate"})
    with pytest.raises(UserError, match="upsampling is for pggan, not dcgan"):
        resolve("dcgan", "smoke", "phantom", {"upsampling": "bilinear"})
    with pytest.raises(UserError, match="upsampling='bicubic' .known: nearest, bilinear"):
        resolve("pggan", "smoke", "phantom", {"upsampling": "bicubic"})
    assert resolve("cdcgan", "smoke", "phantom").conditional
    assert resolve("pggan", "smoke", "phantom", {"image_size": 64}).image_size == 64


@pytest.mark.parametrize("loss", ["wgan-gp", "nonsaturating"])
def test_one_step_per_loss_moves_both_networks(data, loss):
    cfg = resolve("pggan", "smoke", "synthetic", {"pggan_loss": loss})
    task = PGGAN(cfg, {"label_names": data.label_names})
    keras.utils.set_random_seed(0)
    task.build()
    nets = task.trained_generator, task.discriminator
    before = [[v.numpy() for v in net.weights] for net in nets]
    batch = task.make_batch(data, np.arange(8), np.random.default_rng(0), 0)
    logs = task.replica_step({k: tf.constant(v) for k, v in batch.items()}, 8)
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert float(logs["resolution"]) == 8 and float(logs["alpha"]) == 1
    for net, old in zip(nets, before):
        assert any(not np.array_equal(a, v.numpy()) for a, v in zip(old, net.weights))
    # the 16x16 block is not in use at 8x8 and stays untouched
    grown = task.trained_generator.blocks[0][0].weights + task.trained_generator.to_rgb[1].weights
    index = {id(v): i for i, v in enumerate(task.trained_generator.weights)}
    assert all(np.array_equal(before[0][index[id(v)]], v.numpy()) for v in grown)


@pytest.mark.parametrize("loss", ["wgan-gp", "nonsaturating"])
def test_diffaugment_is_what_d_sees_of_reals_and_fakes(data, loss):
    """The step with augmentation parameters that are the identity is the plain step; with random
    ones, D's scores and the update differ; batches carry the parameters their spec declares."""
    def first_step(augment, identity):
        task = PGGAN(resolve("pggan", "smoke", "synthetic", {"pggan_loss": loss, "augment": augment}),
                     {"label_names": data.label_names})
        keras.utils.set_random_seed(0)
        task.build()
        batch = task.make_batch(data, np.arange(8), np.random.default_rng(0), 3)   # 16 px mid-fade
        assert set(task.batch_spec(3)) == set(batch)
        if augment:
            assert batch["augment"].shape == (8, 3, 6)
        if identity:
            batch["augment"] = np.full_like(batch["augment"], 0.5)
        logs = task.replica_step({k: tf.constant(v) for k, v in batch.items()}, 8)
        return {k: float(v) for k, v in logs.items()}, [v.numpy() for v in task.discriminator.weights]

    plain_logs, plain_d = first_step("", False)
    same_logs, same_d = first_step("translation,color", True)
    moved_logs, moved_d = first_step("translation,cutout,color", False)
    assert same_logs == pytest.approx(plain_logs, rel=1e-5, abs=1e-6)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(plain_d, same_d))
    assert moved_logs["real_score"] != pytest.approx(plain_logs["real_score"], rel=1e-3)
    assert not all(np.allclose(a, b, atol=1e-6) for a, b in zip(plain_d, moved_d))


@pytest.mark.parametrize("loss", ["wgan-gp", "nonsaturating"])
def test_gradient_penalty_is_wgan_gp_at_interpolates_or_r1_at_the_reals(data, loss):
    cfg = resolve("pggan", "smoke", "synthetic", {"pggan_loss": loss, "gp_weight": 4})
    task = PGGAN(cfg, {"label_names": data.label_names})
    keras.utils.set_random_seed(0)
    task.build()
    real = tf.random.uniform([4, 16, 16, 1], -1, 1, seed=1)
    fake, mix = tf.random.uniform([4, 16, 16, 1], -1, 1, seed=2), tf.constant([0.0, 0.3, 0.6, 1.0])

    def grad_norm2(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(task.discriminator(x, None, level=1, training=True))
        return tf.reduce_sum(tf.square(tape.gradient(total, x)), [1, 2, 3]).numpy()

    penalty = task._gradient_penalty(real, fake, mix, None, 1, None).numpy()
    if loss == "wgan-gp":
        want = 4 * (np.sqrt(grad_norm2(real + tf.reshape(mix, [-1, 1, 1, 1]) * (fake - real))) - 1) ** 2
    else:
        want = 0.5 * 4 * grad_norm2(real)
    np.testing.assert_allclose(penalty, want, rtol=1e-4)


def test_generator_is_the_running_average_of_the_trained_one(data):
    cfg = resolve("pggan", "smoke", "synthetic")          # ema_images 16
    task = PGGAN(cfg, {"label_names": data.label_names})
    task.build()
    assert task.generator is not task.trained_generator
    start = [v.numpy() for v in task.generator.weights]
    np.testing.assert_array_equal(start[0], task.trained_generator.weights[0].numpy())
    batch = task.make_batch(data, np.arange(8), np.random.default_rng(0), 0)
    task.replica_step({k: tf.constant(v) for k, v in batch.items()}, 8)
    keep = 0.5 ** (8 / 16)
    for old, average, trained in zip(start, task.generator.weights, task.trained_generator.weights):
        want = trained.numpy() + keep * (old - trained.numpy())
        np.testing.assert_allclose(average.numpy(), want, atol=1e-6)
    plain = PGGAN(resolve("pggan", "smoke", "synthetic", {"ema_images": 0}), {"label_names": ["a"]})
    plain.build()
    assert plain.generator is plain.trained_generator
    assert "trained_generator_weights" not in plain.trackables()


def _first_step(data, precision: str, step: int) -> tuple[dict, list]:
    """Logs and trained-generator weights after one step at ``step`` of the smoke schedule."""
    keras.mixed_precision.set_global_policy(precision)
    try:
        task = PGGAN(resolve("pggan", "smoke", "synthetic", {"precision": precision}),
                     {"label_names": data.label_names})
        keras.utils.set_random_seed(0)
        task.build()
        want = keras.mixed_precision.Policy(precision).compute_dtype
        assert task.discriminator.from_rgb[0].compute_dtype == want
        batch = task.make_batch(data, np.arange(8), np.random.default_rng(0), step)
        logs = task.replica_step({k: tf.constant(v) for k, v in batch.items()}, 8)
        assert all(v.dtype == tf.float32 for v in task.trained_generator.weights + task.discriminator.weights)
        images = task.generate(task.noise(np.random.default_rng(1), 3))
        assert images.dtype == np.float32 and np.isfinite(images).all()
        return {k: float(v) for k, v in logs.items()}, [v.numpy() for v in task.trained_generator.weights]
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("step", [0, 3])                  # 8x8 stable, 16x16 mid-fade
def test_bf16_step_computes_the_float32_step(data, step):
    """The quick preset trains in bf16: its losses, penalty and G's update match float32's to bf16
    precision (float32 variables, float32 samples)."""
    ref_logs, ref_weights = _first_step(data, "float32", step)
    logs, weights = _first_step(data, "mixed_bfloat16", step)
    for key in ("d_loss", "g_loss", "gradient_penalty", "real_score", "fake_score"):
        assert logs[key] == pytest.approx(ref_logs[key], rel=0.05, abs=0.05), key
    start = PGGAN(resolve("pggan", "smoke", "synthetic"), {"label_names": data.label_names})
    keras.utils.set_random_seed(0)
    start.build()
    for before, ref, got in zip(start.trained_generator.weights, ref_weights, weights):
        ref_move, move = ref - before.numpy(), got - before.numpy()
        if ref_move.size > 1 and np.abs(ref_move).max() > 0:
            assert np.corrcoef(ref_move.ravel(), move.ravel())[0, 1] > 0.8   # Adam: ~sign(grad)


def weights(task):
    nets = task.generator, task.trained_generator, task.discriminator
    return [v.numpy() for net in nets for v in net.weights]


def test_resume_mid_fade_equals_uninterrupted_run(tmp_path, data):
    """Smoke schedule: steps 0-1 at 8x8, steps 2-5 fade in 16x16; stop after step 4, mid-fade."""
    full = resolve("pggan", "smoke", "synthetic", {"steps": 6})
    one = Trainer(full, tmp_path / "a", data=data, progress=False)
    one.fit()
    Trainer(resolve("pggan", "smoke", "synthetic", {"steps": 4}), tmp_path / "b", data=data,
            progress=False).fit()
    from mri_gan.inference import load_task

    stopped = load_task(tmp_path / "b")
    assert int(stopped.stage.numpy()) == 1 and float(stopped.alpha.numpy()) == pytest.approx(0.25)
    two = Trainer(full, tmp_path / "b", data=data, resume=True, progress=False)
    two.fit()
    for a, b in zip(weights(one.task), weights(two.task)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert int(two.task.stage.numpy()) == 1 and float(two.task.alpha.numpy()) == pytest.approx(0.75)
    entries = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [e["alpha"] for e in entries] == pytest.approx([1, 1, 0, 0.25, 0.5, 0.75])
    assert [e["resolution"] for e in entries] == [8, 8, 16, 16, 16, 16]


def test_smoke_training_through_the_cli_then_generate(tmp_path, cli):
    run = tmp_path / "run"
    cli("train", "--model", "pggan", "--data", "phantom?subjects=6&size=32", "--preset", "smoke",
        "--set", "conditional=true", "--out", run, "--no-progress", check=0)
    entries = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert entries[-1]["step"] == 8 and entries[-1]["resolution"] == 16
    for key in ("images_per_s", "d_loss", "g_loss", "gradient_penalty", "alpha"):
        assert key in entries[-1]
    import cv2

    grid = cv2.imread(str(sorted((run / "samples").glob("*.png"))[0]), cv2.IMREAD_GRAYSCALE)
    assert grid.shape == (2 * 16, 8 * 16)        # a row of 8 per class, at the final size
    cli("generate", "--run", run, "--n", "3", "--label", "tumor", "--out", tmp_path / "gen", check=0)
    samples = np.load(tmp_path / "gen" / "samples.npz")
    assert samples["images"].shape == (3, 16, 16, 1) and list(samples["labels"]) == [1, 1, 1]
    assert np.abs(samples["images"]).max() <= 1.0
    assert len(list((tmp_path / "gen" / "tumor").glob("*.png"))) == 3
    bad = cli("generate", "--run", run, "--n", "1", "--label", "glioma", "--out", tmp_path / "bad")
    assert bad.returncode == 2 and "unknown label" in bad.stderr
