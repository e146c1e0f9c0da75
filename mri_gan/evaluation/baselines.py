"""Trivial baselines for paired synthesis (docs/design.md): a model below them has learned nothing.

Each baseline returns predictions shaped like the target, in model range [-1, 1], so
``metrics.paired_metrics`` scores them exactly like a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mri_gan.errors import UserError

BASELINE_DEFINITIONS = {
    "identity": "the first source sequence copied as the prediction",
    "linear": "target = sum_c a_c * source_c + b, least squares over brain-mask pixels of the "
              "training split, applied everywhere and clipped to [-1, 1] (with several sources: "
              "a multi-input linear regression)",
    "mean_image": "pixel-wise mean of the training targets, the same image for every slice",
}
#: rows added per source sequence when a question has several (``identity t2``, ``linear t2``)
PER_SOURCE_DEFINITIONS = {
    "identity": "that source sequence copied as the prediction",
    "linear": "target = a * that source + b, least squares over brain-mask pixels of the training split",
}


def _channels(source) -> np.ndarray:
    """[N, H, W] or [N, H, W, C] -> [N, H, W, C] float32."""
    arr = np.asarray(source, np.float32)
    return arr[..., None] if arr.ndim == 3 else arr


def identity(source) -> np.ndarray:
    """The first source channel as the prediction: [N, H, W]."""
    return _channels(source)[..., 0].copy()


@dataclass
class LinearMap:
    """A global linear intensity map from source channels to the target."""

    coef: np.ndarray     # [C]
    intercept: float

    @classmethod
    def fit(cls, source, target, mask) -> LinearMap:
        """Least squares over the mask pixels of training slices."""
        x = _channels(source)
        t = np.asarray(target, np.float32).reshape(x.shape[:3])
        m = np.asarray(mask, bool).reshape(x.shape[:3])
        if not m.any():
            raise UserError("linear baseline", "the training masks are empty")
        design = np.concatenate([x[m], np.ones((int(m.sum()), 1), np.float32)], axis=1)
        solution, *_ = np.linalg.lstsq(design.astype(np.float64), t[m].astype(np.float64), rcond=None)
        return cls(solution[:-1], float(solution[-1]))

    def predict(self, source) -> np.ndarray:
        """[N, H, W] predictions clipped to [-1, 1]."""
        x = _channels(source)
        return np.clip(x @ self.coef.astype(np.float32) + self.intercept, -1.0, 1.0).astype(np.float32)


def mean_image(train_target, n: int) -> np.ndarray:
    """The pixel-wise mean training target, repeated n times: [n, H, W]."""
    mean = _channels(train_target)[..., 0].mean(axis=0)
    return np.repeat(mean[None], n, axis=0).astype(np.float32)


def baseline_predictions(train_source, train_target, train_mask, test_source,
                         names=None) -> dict[str, np.ndarray]:
    """Predictions of every baseline for the test sources, by name (see BASELINE_DEFINITIONS);
    given the source channels' ``names`` and more than one, also ``identity NAME`` and ``linear
    NAME`` of each source alone (PER_SOURCE_DEFINITIONS)."""
    out = {"identity": identity(test_source),
           "linear": LinearMap.fit(train_source, train_target, train_mask).predict(test_source),
           "mean_image": mean_image(train_target, len(test_source))}
    if names is not None and len(names) > 1:
        train_x, test_x = _channels(train_source), _channels(test_source)
        for c, name in enumerate(names):
            out[f"identity {name}"] = test_x[..., c].copy()
            out[f"linear {name}"] = LinearMap.fit(train_x[..., c], train_target, train_mask).predict(test_x[..., c])
    return out


def definition(name: str) -> str:
    """The definition of a baseline row by its name (``linear t2`` -> the per-source linear map)."""
    kind, _, source = name.partition(" ")
    return PER_SOURCE_DEFINITIONS[kind] if source else BASELINE_DEFINITIONS[name]
