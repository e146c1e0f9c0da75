"""Evaluation metrics and paired baselines against known values."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage
from scipy.stats import special_ortho_group

from mri_gan.errors import UserError
from mri_gan.evaluation import baselines, feature_networks, metrics


def smooth_images(n, size=32, seed=0):
    """Smooth random images in [-1, 1] (model range)."""
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.normal(size=(n, size, size)), (0, 2, 2)) * 4
    return np.clip(x, -1, 1).astype(np.float32)


def box_mask(n, size=32, lo=6, hi=26):
    mask = np.zeros((n, size, size), bool)
    mask[:, lo:hi, lo:hi] = True
    return mask


# ----------------------------------------------------------------------------------- paired

def test_identical_images_score_perfectly_and_json_safely():
    x = smooth_images(4)
    out = metrics.paired_metrics(x, x, box_mask(4), ["a", "a", "b", "b"])
    assert out["ssim"]["mean"] == pytest.approx(1.0, abs=1e-6)
    assert out["psnr"] == {"mean": metrics.PSNR_CAP_DB, "std": 0.0}
    assert out["mae"]["mean"] == 0.0 and out["nmse"]["mean"] == 0.0
    assert out["subjects"] == 2 and out["masked"] is True and out["scale"] == "[0, 1]"
    assert set(out["per_subject"]) == {"a", "b"}
    json.dumps(out, allow_nan=False)


def test_full_mask_matches_tf_image_ssim_and_psnr():
    target = smooth_images(5, seed=1)
    noise = np.random.default_rng(2).normal(0, 0.2, target.shape)
    pred = np.clip(target + noise, -1, 1).astype(np.float32)
    out = metrics.paired_metrics(pred, target, None, [str(i) for i in range(5)])
    p01, t01 = (pred[..., None] + 1) / 2, (target[..., None] + 1) / 2
    ref_ssim = tf.image.ssim(p01, t01, max_val=1.0).numpy()
    ref_psnr = tf.image.psnr(p01, t01, max_val=1.0).numpy()
    ours = [out["per_subject"][str(i)] for i in range(5)]
    np.testing.assert_allclose([s["ssim"] for s in ours], ref_ssim, atol=1e-4)
    np.testing.assert_allclose([s["psnr"] for s in ours], ref_psnr, atol=1e-3)
    assert out["masked"] is False
    ref_map = tf.image.ssim(p01, t01, max_val=1.0, return_index_map=True).numpy()
    np.testing.assert_allclose(metrics.ssim_map(p01[..., 0], t01[..., 0]), ref_map, atol=1e-4)


def test_masked_metrics_ignore_the_background():
    target = smooth_images(3, seed=3)
    pred = np.clip(target + 0.1, -1, 1)
    mask = box_mask(3)
    rng = np.random.default_rng(4)
    pred2, target2 = pred.copy(), target.copy()
    pred2[~mask] = rng.uniform(-1, 1, (~mask).sum())
    target2[~mask] = rng.uniform(-1, 1, (~mask).sum())
    a = metrics.paired_metrics(pred, target, mask, ["s"] * 3)
    b = metrics.paired_metrics(pred2, target2, mask, ["s"] * 3)
    for name in ("ssim", "psnr", "mae", "nmse"):
        assert a[name]["mean"] == pytest.approx(b[name]["mean"], abs=1e-6), name
    whole = metrics.paired_metrics(pred2, target2, None, ["s"] * 3)
    assert whole["mae"]["mean"] != pytest.approx(a["mae"]["mean"], abs=1e-3)


def test_mae_nmse_psnr_on_hand_computed_arrays():
    # [0, 1] scale: target 0.5 in the mask, prediction 0.75 on half of the mask pixels
    target01 = np.zeros((1, 16, 16), np.float32)
    mask = np.zeros((1, 16, 16), bool)
    mask[0, 4:12, 4:12] = True
    target01[mask] = 0.5
    pred01 = target01.copy()
    pred01[0, 4:8, 4:12] = 0.75
    out = metrics.paired_metrics(pred01 * 2 - 1, target01 * 2 - 1, mask, ["s"])
    assert out["mae"]["mean"] == pytest.approx(0.125)
    assert out["nmse"]["mean"] == pytest.approx(32 * 0.0625 / (64 * 0.25))
    assert out["psnr"]["mean"] == pytest.approx(10 * np.log10(1 / (32 * 0.0625 / 64)))
    same = metrics.paired_metrics(target01, target01, mask, ["s"], input_range=(0, 1))
    assert same["mae"]["mean"] == 0.0


def test_aggregation_is_per_subject_then_over_subjects():
    target = np.zeros((4, 16, 16), np.float32)
    pred = target.copy()
    pred[:3] += 0.2          # subject a: 3 slices, error 0.1 on the [0, 1] scale
    pred[3] += 0.6           # subject b: 1 slice, error 0.3
    out = metrics.paired_metrics(pred, target, None, ["a", "a", "a", "b"])
    assert out["mae"]["mean"] == pytest.approx(0.2)      # not the slice-weighted 0.15
    assert out["mae"]["std"] == pytest.approx(0.1)
    assert out["per_subject"]["a"]["slices"] == 3


def test_paired_metrics_rejects_masks_without_window_centres():
    x = smooth_images(2, size=16)
    mask = np.zeros((2, 16, 16), bool)
    mask[:, :3, :] = True
    with pytest.raises(UserError):
        metrics.paired_metrics(x, x, mask, ["a", "b"])


def test_lesion_contrast_is_the_share_of_the_real_lesion_contrast_reproduced():
    rng = np.random.default_rng(0)
    target = rng.uniform(-0.6, -0.2, (6, 32, 32)).astype(np.float32)
    brain, lesion = box_mask(6), box_mask(6, lo=12, hi=18)
    lesion[3:] = False                      # subject "b" has no lesion pixels
    target[lesion] += 0.8
    subjects = ["a"] * 3 + ["b"] * 3
    same = metrics.lesion_contrast(target, target, brain, lesion, subjects)
    assert same["subjects"] == 1 and same["mean"] == pytest.approx(1.0)
    flat = target.copy()
    flat[lesion] = np.median(target[brain & ~lesion][:1000])
    assert abs(metrics.lesion_contrast(flat, target, brain, lesion, subjects)["mean"]) < 0.05
    half = target.copy()
    half[lesion] -= 0.4
    assert metrics.lesion_contrast(half, target, brain, lesion, subjects)["mean"] == pytest.approx(0.5, abs=0.01)
    assert metrics.lesion_contrast(target, target, brain, np.zeros_like(lesion), subjects) is None


def test_region_brightness_reads_the_target_regions_in_each_volume():
    target = np.full((10, 10, 4), 0.4, np.float32)
    mask = np.zeros(target.shape, bool)
    mask[1:9, 1:9] = True
    target[2:4, 2:4], target[6:8, 6:8] = 1.0, 0.1        # bright lesion, dark CSF
    same = metrics.region_brightness(target, target, mask)
    assert same == {"bright": 2.5, "bright_voxels": 16, "dark": 0.25, "dark_voxels": 16}
    flat = np.where(mask, 0.3, 0.0)                      # a synthesis that shows neither
    assert metrics.region_brightness(flat, target, mask) == {**same, "bright": 1.0, "dark": 1.0}
    assert metrics.region_brightness(target, flat, mask)["bright"] is None


def test_volume_metrics_matches_slice_metrics():
    rng = np.random.default_rng(5)
    target = ndimage.gaussian_filter(rng.uniform(0, 100, (24, 24, 6)), 1.5)
    pred = target + rng.normal(0, 2, target.shape)
    mask = np.zeros(target.shape, bool)
    mask[4:20, 3:21, 1:5] = True
    vol = metrics.volume_metrics(pred, target, mask, axis=2, input_range=(0, 100))
    pred_s, target_s, mask_s = (np.moveaxis(v, 2, 0)[1:5] for v in (pred, target, mask))
    flat = metrics.paired_metrics(pred_s, target_s, mask_s, ["v"] * 4, input_range=(0, 100))
    for name in ("ssim", "psnr", "mae", "nmse"):
        assert vol[name] == pytest.approx(flat[name]["mean"], rel=1e-6), name
    assert vol["slices"] == 4
    same = metrics.volume_metrics(target, target, mask)
    assert same["ssim"] == pytest.approx(1.0, abs=1e-6) and same["psnr"] == metrics.PSNR_CAP_DB


# ------------------------------------------------------------------------------ distribution

def test_fid_of_a_set_with_itself_is_zero():
    act = np.random.default_rng(0).normal(size=(500, 16))
    assert metrics.fid(act, act) == pytest.approx(0.0, abs=1e-6)


def exact_moments(n, mean, cov, rng):
    """Samples whose sample mean and covariance (ddof 1) equal mean and cov exactly."""
    x = rng.normal(size=(n, len(mean)))
    x -= x.mean(axis=0)
    x = x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False))).T
    return x @ np.linalg.cholesky(cov).T + mean


def test_fid_of_two_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(1)
    d = 6
    q = special_ortho_group.rvs(d, random_state=2)
    l1, l2 = rng.uniform(0.5, 3, d), rng.uniform(0.5, 3, d)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    a = exact_moments(400, m1, q @ np.diag(l1) @ q.T, rng)
    b = exact_moments(300, m2, q @ np.diag(l2) @ q.T, rng)
    closed = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(l1) - np.sqrt(l2)) ** 2)
    assert metrics.fid(a, b) == pytest.approx(closed, rel=1e-6)


def test_kid_is_zero_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    same = metrics.kid(a, b, subsets=20, subset_size=200, seed=0)
    shifted = metrics.kid(a, b + 1.0, subsets=20, subset_size=200, seed=0)
    assert abs(same["mean"]) < 3 * same["std"] + 0.01
    assert shifted["mean"] > 10 * abs(same["mean"]) + 0.1
    assert shifted["subset_size"] == 200


def test_prdc_identical_and_disjoint_sets():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(200, 8))
    same = metrics.prdc(real, real.copy(), k=5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    far = metrics.prdc(real, real + 100.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0, "k": 5}
    half = metrics.prdc(real, rng.normal(size=(200, 8)) * 0.2, k=5)   # collapsed modes
    assert half["precision"] > 0.9 and half["recall"] < 0.5


def test_feature_network_errors_are_user_errors(monkeypatch, tmp_path):
    x = np.zeros((2, 32, 32), np.float32)
    with pytest.raises(UserError, match="unknown feature network"):
        feature_networks.feature_activations(x, "alexnet")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(UserError, match=feature_networks.INCEPTION_WEIGHTS):
        feature_networks.feature_activations(x, "inception")
    import mri_gan.style
    monkeypatch.delattr(mri_gan.style, "vgg", raising=False)
    monkeypatch.setitem(sys.modules, "mri_gan.style.vgg", None)
    with pytest.raises(UserError, match="vgg19-mri"):
        feature_networks.feature_activations(x, "vgg19-mri")


def test_vgg19_mri_features_are_block5_pool_averaged_over_space(monkeypatch):
    def feature_extractor(weights, layers):
        assert weights == "mri" and layers == ("block5_pool",)
        def model(batch, training):
            return {"block5_pool": tf.fill((len(batch), 2, 2, 3), 2.0)}

        return model, {"weights": "mri"}

    import mri_gan.style
    fake = types.ModuleType("mri_gan.style.vgg")
    fake.feature_extractor = feature_extractor
    monkeypatch.setitem(sys.modules, "mri_gan.style.vgg", fake)
    monkeypatch.setattr(mri_gan.style, "vgg", fake, raising=False)
    act = feature_networks.feature_activations(np.zeros((5, 32, 32, 1), np.float32), "vgg19-mri", batch_size=2)
    np.testing.assert_allclose(act, np.full((5, 3), 2.0))


def test_distribution_metrics_through_the_classifier_network():
    from mri_gan.evaluation.classifiers import Budget, train_feature_classifier

    rng = np.random.default_rng(6)
    x = smooth_images(60, seed=7)
    y = (rng.uniform(size=60) > 0.5).astype(np.int32)
    x[y == 1, 12:20, 12:20] = 1.0
    clf = train_feature_classifier(x, y, budget=Budget(epochs=1, filters=8))
    run = feature_networks.feature_network("classifier", clf)
    out = metrics.compare_activations(feature_networks.feature_activations(x[:30], run),
                                      feature_networks.feature_activations(x[30:], run), "classifier", k=3,
                                      kid_subsets=5, kid_subset_size=20,
                                      feature_network_definition=feature_networks.FEATURE_NETWORKS["classifier"])
    assert out["feature_network"] == "classifier"
    assert out["n_real"] == 30 and out["n_fake"] == 30
    assert {"fid", "kid", "precision", "recall", "density", "coverage"} <= set(out)
    assert out["fid"] >= 0 and "classifier" in out["definitions"]["feature_network"]
    json.dumps(out, allow_nan=False)


# --------------------------------------------------------------------------------- baselines

def test_identity_baseline_of_target_to_target_is_perfect():
    x = smooth_images(3)
    out = metrics.paired_metrics(baselines.identity(x[..., None]), x, box_mask(3), ["a", "b", "c"])
    assert out["ssim"]["mean"] == pytest.approx(1.0, abs=1e-6)
    assert out["psnr"]["mean"] == metrics.PSNR_CAP_DB and out["mae"]["mean"] == 0.0


def test_linear_baseline_recovers_a_global_intensity_map():
    source = np.stack([smooth_images(6, seed=8), smooth_images(6, seed=9)], axis=-1) * 0.5
    mask = box_mask(6)
    target = 0.5 * source[..., 0] - 0.25 * source[..., 1] + 0.1
    target[~mask] = -1.0                     # background is not fitted
    fitted = baselines.LinearMap.fit(source, target, mask)
    np.testing.assert_allclose(fitted.coef, [0.5, -0.25], atol=1e-5)
    assert fitted.intercept == pytest.approx(0.1, abs=1e-5)
    preds = baselines.baseline_predictions(source, target, mask, source[:2])
    assert set(preds) == set(baselines.BASELINE_DEFINITIONS)
    assert all(p.shape == (2, 32, 32) for p in preds.values())
    np.testing.assert_allclose(preds["mean_image"][1], target.mean(axis=0), atol=1e-6)
    assert metrics.paired_metrics(preds["linear"], target[:2], mask[:2], ["a", "b"])["mae"]["mean"] < 1e-5


def test_brasyn_case_metrics_inside_and_outside_the_tumour():
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:16, :40, :40]
    brain = (z - 8) ** 2 / 64 + ((y - 20) ** 2 + (x - 20) ** 2) / 300 < 1
    tumour = brain & ((z - 8) ** 2 + (y - 14) ** 2 + (x - 14) ** 2 < 16)
    target = (np.sin(x / 3) * np.cos(y / 4) + 2 + 2 * tumour).astype(np.float32) * brain
    same = metrics.brasyn_case_metrics(target * 3 + 1, target, brain, tumour)   # any linear scale
    assert same["ssim_tumour"] == pytest.approx(1, abs=1e-4) and same["ssim_healthy"] == pytest.approx(1, abs=1e-4)
    assert same["mse"] < 1e-6
    spoiled = target.copy()
    spoiled[tumour] = np.median(target[brain])            # the lesion painted as tissue
    worse = metrics.brasyn_case_metrics(spoiled, target, brain, tumour)
    assert worse["ssim_tumour"] < 0.9 and worse["ssim_healthy"] > worse["ssim_tumour"]
    assert worse["psnr"] < same["psnr"]
    noisy = target + rng.normal(0, 0.5, target.shape).astype(np.float32) * brain
    assert metrics.brasyn_case_metrics(noisy, target, brain, tumour)["ssim_healthy"] < 0.9
    assert metrics.brasyn_case_metrics(target, target, brain, np.zeros_like(tumour))["ssim_tumour"] is None


def test_uncertainty_calibration_ranks_error_by_spread():
    from mri_gan.evaluation.uncertainty import calibration

    rng = np.random.default_rng(0)
    spread = rng.uniform(0, 0.1, (4, 16, 16))
    mask = np.ones(spread.shape, bool)
    mask[:, :2] = False
    tied = calibration(spread, 2 * spread * rng.choice([-1, 1], spread.shape), mask)   # |error| = 2 x spread
    assert tied["spearman"] == pytest.approx(1.0) and tied["top_over_bottom"] > 5
    assert tied["error_by_spread_fifth"] == sorted(tied["error_by_spread_fifth"]) and tied["pixels"] == mask.sum()
    unrelated = calibration(spread, rng.uniform(-0.1, 0.1, spread.shape), mask)
    assert abs(unrelated["spearman"]) < 0.1 and 0.8 < unrelated["top_over_bottom"] < 1.25
    assert calibration(spread, spread, np.zeros(spread.shape, bool)) is None
