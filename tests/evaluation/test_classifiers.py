"""Classifier-based evaluation: two-sample test, downstream use, the slice CNN."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mri_gan.errors import UserError
from mri_gan.evaluation.classifiers import Budget, SliceCNN, downstream, fit_classifier, two_sample_test

FAST = Budget(epochs=4, batch_size=32, filters=8)


def phantom_slices(n, seed=0, tumour=None, size=32):
    """Head-like ellipses with texture in [-1, 1]; a bright blob where ``tumour`` is 1."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    out = np.empty((n, size, size), np.float32)
    for i in range(n):
        a, b = rng.uniform(0.3, 0.45, 2)
        head = (xx / a) ** 2 + (yy / b) ** 2 < 1
        img = head * (0.4 + 0.2 * ndimage.gaussian_filter(rng.normal(size=(size, size)), 1.5))
        if tumour is not None and tumour[i]:
            cy, cx = rng.uniform(-0.15, 0.15, 2)
            img = img + 0.6 * ((xx - cx) ** 2 + (yy - cy) ** 2 < 0.01)
        out[i] = np.clip(img, 0, 1) * 2 - 1
    return out


def test_two_halves_of_one_real_set_are_indistinguishable():
    real = phantom_slices(400, seed=1)
    out = two_sample_test(real[:100], real[100:200], real[200:300], real[300:], seed=0, budget=FAST)
    assert 0.35 <= out["accuracy"] <= 0.65
    assert out["realism"] == pytest.approx(1 - 2 * abs(out["accuracy"] - 0.5))
    assert out["n_train_per_class"] == 100 and out["n_test_per_class"] == 100
    assert out["ci95"][0] < 0.5 < out["ci95"][1] and out["p_value"] > 0.05


def test_real_versus_noise_is_told_apart():
    real = phantom_slices(160, seed=2)
    noise = np.random.default_rng(3).uniform(-1, 1, (150, 32, 32)).astype(np.float32)
    out = two_sample_test(real[:100], noise[:100], real[100:], noise[100:], seed=0, budget=FAST)
    assert out["accuracy"] >= 0.95
    assert out["realism"] <= 0.1
    assert out["n_test_per_class"] == 50            # the larger test class is cut to 50
    assert out["p_value"] < 1e-6 and out["ci95"][0] > 0.85 and out["ci95"][1] <= 1.0
    assert out["train_accuracy"] >= 0.95


def test_a_small_set_is_trained_for_at_least_min_steps():
    x, y = phantom_slices(40, seed=8), np.r_[np.zeros(20), np.ones(20)]
    model = fit_classifier(x, y, 2, budget=Budget(epochs=1, batch_size=16, filters=4, min_steps=10))
    assert int(model.optimizer.iterations) == 12    # 3 batches an epoch, 4 epochs
    model = fit_classifier(x, y, 2, budget=Budget(epochs=1, batch_size=16, filters=4))
    assert int(model.optimizer.iterations) == 3


def test_downstream_runs_every_seed_and_balances_with_synthetic_images():
    rng = np.random.default_rng(4)
    train_y = np.r_[np.zeros(90), np.ones(30)].astype(np.int32)
    test_y = (rng.uniform(size=80) > 0.5).astype(np.int32)
    syn_y = np.r_[np.zeros(20), np.ones(80)].astype(np.int32)
    train_x = phantom_slices(120, seed=5, tumour=train_y)
    test_x = phantom_slices(80, seed=6, tumour=test_y)
    syn_x = phantom_slices(100, seed=7, tumour=syn_y)
    budget = Budget(epochs=15, batch_size=32, filters=8)
    real = downstream(train_x, train_y, test_x, test_y, seeds=(0, 1, 2), mode="real", budget=budget)
    for name in ("accuracy", "balanced_accuracy", "f1", "roc_auc"):
        assert set(real[name]) == {"mean", "std", "per_seed"}
        assert len(real[name]["per_seed"]) == 3
        assert all(0.0 <= v <= 1.0 for v in real[name]["per_seed"])
    assert real["roc_auc"]["mean"] > 0.8                         # the blob is easy to see
    mixed = downstream(train_x, train_y, test_x, test_y, syn_x, syn_y, seeds=(0, 1, 2),
                       mode="real+synthetic", budget=FAST)
    assert mixed["synthetic_added"] == {0: 0, 1: 60}
    assert mixed["n_train"] == 180 and mixed["seeds"] == [0, 1, 2]
    with pytest.raises(UserError):
        downstream(train_x, train_y, test_x, test_y, mode="synthetic")
    with pytest.raises(UserError):
        downstream(train_x, train_y, test_x, np.zeros(80, np.int32), budget=FAST)


def test_slice_cnn_config_round_trip_and_feature_shape():
    model = SliceCNN(n_classes=3, filters=8, blocks=2, feature_dim=16)
    x = np.zeros((2, 32, 32, 1), np.float32)
    assert model(x).shape == (2, 3)
    assert model.features(x).shape == (2, 16)
    clone = SliceCNN.from_config(model.get_config())
    assert (clone.n_classes, clone.filters, clone.blocks, clone.feature_dim) == (3, 8, 2, 16)
