"""Pix2Pix task: residual and linear-base starts, imputation masking, losses, batches, margin
selection, translation errors, and smoke training through the CLI."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import make_slices

from mri_gan import losses
from mri_gan.commands.sets import typed_sets
from mri_gan.config import resolve
from mri_gan.errors import UserError
from mri_gan.evaluation.baselines import LinearMap
from mri_gan.models.imputation import hide_sequences
from mri_gan.models.pix2pix import Pix2Pix


@pytest.mark.parametrize("upsampling", ["transposed", "resize"])
def test_residual_generator_starts_as_the_partner_copy_where_it_is_given(data, upsampling):
    task = small_task("any", residual="true", unet_upsampling=upsampling)
    assert task.residual_spec() == [(1, 5), (0, 4), None, None]   # t1 <- t1ce, t1ce <- t1
    batch = task.make_batch(data, np.arange(8), np.random.default_rng(1))
    cond = batch["cond"]
    out = task.generator(tf.constant(cond), training=False).numpy()
    given = cond[:, 0, 0, 4:].astype(bool)
    for c, partner in ((0, 1), (1, 0)):
        rows = given[:, partner]
        assert rows.any() and (~rows).any()
        np.testing.assert_allclose(out[rows, ..., c], cond[rows, ..., partner], atol=1e-6)
        np.testing.assert_allclose(out[~rows, ..., c], 0.0, atol=1e-6)   # no partner: the net alone
    assert small_task("t1ce", residual="true", source="t2,t1").residual_spec() == [(1, -1)]
    plain = small_task("flair", residual="true", source="t1")   # no partner: predicted whole
    assert plain.residual_spec() is None and plain.generator.residual is None


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_linear_base_starts_as_the_regression_baseline(data, precision):
    """Translation: the untrained generator is the baseline's multi-input linear map (under mixed
    precision up to the bfloat16 rounding of its inputs: 8 significant bits)."""
    keras.mixed_precision.set_global_policy(precision)
    try:
        task = small_task("flair", linear_base="true", source="t1,t2")
        task.initialise(data)
        sources = data.channels(["t1", "t2"])
        out = task.generator(tf.constant(sources), training=False).numpy()[..., 0]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    expected = LinearMap.fit(sources, data.channels(["flair"]), data.brain_mask).predict(sources)
    np.testing.assert_allclose(out, expected, atol=1e-4 if precision == "float32" else 1e-2)
    assert task.generator.base.table.shape == (1, 1, 3) and not task.generator.base.trainable_weights


def test_linear_base_imputation_fits_one_map_per_given_set(data):
    task = small_task("any", linear_base="true")
    task.initialise(data)
    table = task.generator.base.table.numpy()
    assert table.shape == (16, 4, 5)
    t1, t1ce, t2, flair = range(4)
    given = [t1, flair]                                   # pattern bits 0 and 3
    fit = LinearMap.fit(data.images[..., given], data.images[..., t2], data.brain_mask)
    np.testing.assert_allclose(table[0b1001, t2, [t1, flair, 4]], [*fit.coef, fit.intercept], atol=1e-4)
    assert table[0b1001, t2, [t1ce, t2]].tolist() == [0, 0]   # inputs not given weigh nothing
    assert table[0b1001, t1, t1] == 1 and table[0b1001, t1].sum() == 1   # a given output is copied
    # in the generator: each example's own map, by its availability planes
    batch = task.make_batch(data, np.arange(8), np.random.default_rng(2))
    out = task.generator(tf.constant(batch["cond"]), training=False).numpy()
    for i, flags in enumerate(batch["cond"][:, 0, 0, 4:].astype(int)):
        row = table[int((flags * 2 ** np.arange(4)).sum())]
        expected = np.clip(np.einsum("hwc,oc->hwo", batch["cond"][i, ..., :4], row[:, :4]) + row[:, 4], -1, 1)
        np.testing.assert_allclose(out[i], expected, atol=1e-4)
    with pytest.raises(UserError, match="alternatives"):
        small_task("any", linear_base="true", residual="true")


def test_without_adversarial_term_only_the_generator_learns(data):
    task = small_task("flair", adv_lambda="0")
    batch = {k: tf.constant(v) for k, v in task.make_batch(data, np.arange(4), np.random.default_rng(0)).items()}
    d_before = [w.numpy().copy() for w in task.discriminator.trainable_weights]
    g_before = [w.numpy().copy() for w in task.generator.trainable_weights]
    logs = task.replica_step(batch, 4)
    assert float(logs["g_adv"]) == 0 and float(logs["d_loss"]) == 0
    assert float(logs["g_loss"]) == pytest.approx(100 * float(logs["g_l1"]), rel=1e-5)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(d_before, task.discriminator.trainable_weights))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(g_before, task.generator.trainable_weights))
    # with the term on, D learns too
    task = small_task("flair")
    d_before = [w.numpy().copy() for w in task.discriminator.trainable_weights]
    assert float(task.replica_step(batch, 4)["g_adv"]) > 0
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(d_before, task.discriminator.trainable_weights))


def test_hide_sequences_draws_one_to_three_of_the_available():
    rng = np.random.default_rng(0)
    available = np.ones((400, 4), bool)
    available[200:, 1] = False                 # three sequences
    available[300:, 2] = False                 # two sequences
    hidden = hide_sequences(available, rng)
    counts = hidden.sum(axis=1)
    assert not (hidden & ~available).any()
    assert set(counts[:200]) == {1, 2, 3} and set(counts[200:300]) == {1, 2} and set(counts[300:]) == {1}
    assert ((available & ~hidden).sum(axis=1) >= 1).all()
    again = hide_sequences(available, np.random.default_rng(0))
    assert np.array_equal(hidden, again)
    # weighted counts: 3:1:0 odds of hiding 1, 2, 3 (renormalised where fewer are feasible)
    counts = hide_sequences(available, rng, (3.0, 1.0, 0.0)).sum(axis=1)
    assert set(counts[:300]) == {1, 2} and set(counts[300:]) == {1}
    assert 0.6 < np.mean(counts[:300] == 1) < 0.9
    assert set(hide_sequences(available[:200], rng, (0.0, 0.0, 1.0)).sum(axis=1)) == {3}
    assert set(hide_sequences(available[300:], rng, (0.0, 0.0, 1.0)).sum(axis=1)) == {1}   # the only count


@pytest.fixture(scope="module")
def data():
    return make_slices(subjects=6, per_subject=3, size=32)


def small_task(target="any", **sets):
    cfg = resolve("pix2pix", "smoke", "synthetic", {"target": target, **typed_sets("pix2pix", sets)})
    task = Pix2Pix(cfg, {})
    task.build()
    return task


def test_imputation_batch_and_losses_only_on_hidden(data):
    task = small_task("any", ssim_lambda="10")
    index = np.arange(8)
    batch = task.make_batch(data, index, np.random.default_rng(3))
    hidden = batch["weight"].astype(bool)
    assert batch["cond"].shape == (8, 32, 32, 8) and batch["target"].shape == (8, 32, 32, 4)
    assert (hidden.sum(axis=1) >= 1).all() and (hidden.sum(axis=1) <= 3).all()
    given_images, planes = batch["cond"][..., :4], batch["cond"][..., 4:]
    assert np.all(given_images[np.broadcast_to(hidden[:, None, None, :], given_images.shape)] == 0)
    assert np.array_equal(planes[:, 0, 0, :], (~hidden).astype(np.float32))
    out = tf.Variable(tf.random.uniform(batch["target"].shape, -1, 1))
    tensors = {k: tf.constant(v) for k, v in batch.items()}
    with tf.GradientTape() as tape:
        logs = task.losses(tensors, out, global_batch=8)
    grad = np.abs(tape.gradient(logs["g_loss"], out).numpy()).sum(axis=(1, 2))
    assert np.all(grad[~hidden] == 0) and np.all(grad[hidden] > 0)
    assert 0 < float(logs["g_ssim"]) < 2


def test_ssim_loss_is_one_minus_ssim_per_weighted_channel():
    rng = np.random.default_rng(0)
    a = tf.constant(rng.uniform(-1, 1, (2, 32, 32, 3)), tf.float32)
    b = tf.constant(np.clip(a.numpy() + rng.normal(0, 0.3, a.shape), -1, 1), tf.float32)
    np.testing.assert_allclose(losses.ssim_loss(a, a, tf.ones([2, 3])).numpy(), 0, atol=1e-5)
    weight = tf.constant([[1, 0, 0], [0, 1, 1]], tf.float32)
    expected = [1 - ssim_of(a[0, ..., 0], b[0, ..., 0]),
                1 - (ssim_of(a[1, ..., 1], b[1, ..., 1]) + ssim_of(a[1, ..., 2], b[1, ..., 2])) / 2]
    np.testing.assert_allclose(losses.ssim_loss(a, b, weight).numpy(), expected, rtol=1e-5)


def ssim_of(x, y) -> float:
    return float(tf.image.ssim((x[None, ..., None] + 1) / 2, (y[None, ..., None] + 1) / 2, 1.0)[0])


def test_translation_batch(data):
    task = small_task("flair", source="t1,t2")
    batch = task.make_batch(data, np.arange(4), np.random.default_rng(0))
    assert batch["cond"].shape == (4, 32, 32, 2) and batch["target"].shape == (4, 32, 32, 1)
    np.testing.assert_array_equal(batch["cond"][..., 1], data.images[:4, ..., 2])
    np.testing.assert_array_equal(batch["target"][..., 0], data.images[:4, ..., 3])


def test_flip_mirrors_condition_and_target_together(data):
    task = small_task("flair", source="t1,t2", flip="true")
    index = np.arange(16) % len(data)
    batch = task.make_batch(data, index, np.random.default_rng(1))
    cond, target = data.channels(["t1", "t2"], index), data.channels(["flair"], index)
    mirrored = np.array([np.array_equal(c, cond[i, :, ::-1]) for i, c in enumerate(batch["cond"])])
    kept = np.array([np.array_equal(c, cond[i]) for i, c in enumerate(batch["cond"])])
    assert mirrored.any() and kept.any() and (mirrored | kept).all()
    np.testing.assert_array_equal(batch["target"][mirrored], target[mirrored][:, :, ::-1])
    np.testing.assert_array_equal(batch["target"][kept], target[kept])


def test_lesion_weight_scales_l1_inside_tumour_masks_and_follows_the_flip(data):
    index = np.arange(8)
    batches = {lw: small_task("flair", flip="true", lesion_weight=str(lw)).make_batch(
        data, index, np.random.default_rng(2)) for lw in (0, 4)}
    batch = batches[4]
    mirrored = np.array([not np.array_equal(c, data.channels(["t1"], [i])[0])
                         for i, c in zip(index, batch["cond"])])
    assert mirrored.any() and not mirrored.all()
    lesion = data.tumor_mask[index][..., None].astype(np.float32)
    np.testing.assert_array_equal(batch["lesion"][mirrored], lesion[mirrored][:, :, ::-1])
    np.testing.assert_array_equal(batch["lesion"][~mirrored], lesion[~mirrored])
    grads = {}
    for lw, b in batches.items():
        task = small_task("flair", lesion_weight=str(lw))
        out = tf.Variable(tf.zeros(b["target"].shape) + 2.0)    # above every target: |grad| constant
        with tf.GradientTape() as tape:
            logs = task.losses({k: tf.constant(v) for k, v in b.items()}, out, global_batch=8)
        grads[lw] = np.abs(tape.gradient(logs["g_l1"], out).numpy())
    inside = batch["lesion"].astype(bool)
    for lw, g in grads.items():    # per slice: lesion pixels weigh 1 + lesion_weight times the rest
        for i in range(len(index)):
            ratio = g[i][inside[i]].mean() / g[i][~inside[i]].mean()
            np.testing.assert_allclose(ratio, 1 + lw, rtol=1e-4)


def test_l2_term_is_the_mean_squared_error_of_the_hidden_channels(data):
    batch = small_task("any").make_batch(data, np.arange(6), np.random.default_rng(4))
    tensors = {k: tf.constant(v) for k, v in batch.items()}
    out = tf.constant(np.random.default_rng(5).uniform(-1, 1, batch["target"].shape), tf.float32)
    hidden = batch["weight"].astype(bool)
    per_example = [np.mean(((out.numpy() - batch["target"])[i][..., hidden[i]]) ** 2) for i in range(6)]
    logs = {lam: small_task("any", l2_lambda=str(lam), adv_lambda="0").losses(tensors, out, global_batch=6)
            for lam in (0, 3)}
    np.testing.assert_allclose(float(logs[3]["g_l2"]), np.mean(per_example), rtol=1e-5)
    np.testing.assert_allclose(float(logs[3]["g_loss"] - logs[0]["g_loss"]), 3 * np.mean(per_example), rtol=1e-4)


def test_warp_moves_images_and_lesions_together_and_keeps_the_background(data):
    task = small_task("any", rotate="20", zoom="0.2")
    images = data.images[:6]
    lesion = data.tumor_mask[:6][..., None].astype(np.float32)
    warped, warped_lesion = task.warped(np.random.default_rng(0), images, lesion)
    assert warped.shape == images.shape and not np.allclose(warped, images)
    assert warped.min() >= images.min() - 1e-6 and warped.max() <= images.max() + 1e-6
    framed = np.pad(images[:, 8:-8, 8:-8], ((0, 0), (8, 8), (8, 8), (0, 0)), constant_values=-1.0)
    assert (task.warped(np.random.default_rng(0), framed)[0][:, :2, :2] == -1.0).all()   # background stays
    # the same transform for every array: a channel copied into the lesion array moves with it
    both, copy = task.warped(np.random.default_rng(0), images, images[..., :1])
    np.testing.assert_allclose(copy[..., 0], both[..., 0], atol=1e-6)
    assert np.array_equal(small_task("any").warped(np.random.default_rng(0), images)[0], images)


def test_margin_selection_keeps_the_worst_margin_in_units(data):
    task = small_task("any", select="margin")
    assert task.SELECT == "val_min_margin" and small_task("any").SELECT == "val_ssim"
    task.fit_references(data, data)
    figures = task.validate(data)
    margins = {k: v for k, v in figures.items() if k.startswith("val_margin_")}
    units = [v / (0.02 if "_ssim_" in k else 0.5) for k, v in margins.items()]
    # each logged figure is rounded to 5 decimals: an SSIM margin's 0.5e-5 is 2.5e-4 of a unit
    assert margins and figures["val_min_margin"] == pytest.approx(min(units), abs=5e-4)


def test_translate_checks_inputs(data):
    task = small_task("flair", source="t1")
    images = data.images[:3]
    assert task.translate(images, [True, True, True, True], "flair").shape == (3, 32, 32)
    with pytest.raises(UserError, match="synthesizes flair"):
        task.translate(images, [True] * 4, "t2")
    with pytest.raises(UserError, match="missing: t1"):
        task.translate(images, [False, True, True, True], "flair")
    imputer = small_task("any")
    full = imputer.translate(images, [True] * 4, "t2")
    assert full.shape == (3, 32, 32)
    # the target's own channel is never an input: changing it changes nothing
    changed = images.copy()
    changed[..., 2] = 0.7
    np.testing.assert_allclose(imputer.translate(changed, [True] * 4, "t2"), full, atol=1e-6)
    with pytest.raises(UserError, match="at least one other"):
        imputer.translate(images, [False, False, True, False], "t2")


@pytest.mark.parametrize("values,match", [({"target": "flair", "source": ["flair"]}, "also a source"),
                                          ({"target": "bold"}, "unknown sequence"),
                                          ({"unet_depth": 6}, "too deep"),
                                          ({"ssim_lambda": -1}, "must be >= 0"),
                                          ({"l2_lambda": -1}, "must be >= 0"),
                                          ({"zoom": 0.7}, "zoom"),
                                          ({"select": "psnr"}, "select")])
def test_task_refuses_bad_config(values, match):
    with pytest.raises(UserError, match=match):
        Pix2Pix(resolve("pix2pix", "smoke", "synthetic", values), {})


@pytest.mark.parametrize("target", ["flair", "any"])
def test_smoke_training_through_cli(cli, tmp_path, target):
    run = tmp_path / "run"
    cli("train", "--model", "pix2pix", "--data", "phantom?subjects=6&size=32&slices=3",
        "--preset", "smoke", "--source", "t1", "--target", target, "--out", run,
        "--no-progress", check=0)
    entries = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    validated = [e for e in entries if "val_ssim" in e]
    assert validated and validated[-1]["step"] == 4
    for key in ("val_ssim", "val_psnr", "val_mae"):
        assert np.isfinite(validated[-1][key])
    assert -1 <= validated[-1]["val_ssim"] <= 1 and validated[-1]["val_mae"] >= 0
    for key in ("d_loss", "g_loss", "g_l1", "images_per_s"):
        assert key in entries[-1]
    if target == "any":
        assert "val_ssim_flair" in validated[-1] and "val_ssim_t1" in validated[-1]
    # the margin over the best baseline per target, and how many margins are negative
    margins = [k for k in validated[-1] if k.startswith("val_margin_")]
    assert "val_margin_ssim_flair" in margins and "val_margin_psnr_flair" in margins
    assert validated[-1]["val_below_baseline"] == sum(validated[-1][k] < 0 for k in margins)
    # the best checkpoint by validation SSIM is kept beside the newest ones
    best = json.loads((run / "checkpoints" / "best" / "best.json").read_text())
    assert best["metric"] == "val_ssim"
    assert best["value"] == max(e["val_ssim"] for e in validated)
    assert best["step"] in [e["step"] for e in validated if e["val_ssim"] == best["value"]]
    grids = sorted((run / "samples").glob("*.png"))
    assert grids
    import cv2

    grid = cv2.imread(str(grids[-1]), cv2.IMREAD_GRAYSCALE)
    assert grid.shape == (4 * 32, 4 * 32)
