"""Small CNN classifiers behind three evaluation figures.

- ``two_sample_test``: real vs synthetic, trained on training subjects, tested on held-out ones;
  50 % accuracy means indistinguishable, realism = 1 - 2 |accuracy - 0.5|.
- ``downstream``: a tumour (or any class) classifier trained on real, real + synthetic
  (classes balanced with synthetic images) or synthetic images only, tested on real images of
  held-out subjects, over several seeds.
- ``train_feature_classifier``: the network behind the "classifier" FID features.

Images are [N, H, W] or [N, H, W, C] in [-1, 1]. Budgets are small by default (CPU) and set
through :class:`Budget`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from scipy import stats
from sklearn import metrics as skm

from mri_gan import progress
from mri_gan.errors import UserError

TWO_SAMPLE_DEFINITION = ("accuracy of a small CNN telling real from synthetic slices, trained on "
                         "training subjects with balanced classes and tested on held-out subjects "
                         "with balanced classes (0.5 = indistinguishable); "
                         "realism = 1 - 2 * |accuracy - 0.5|; p_value: one-sided binomial test of "
                         "accuracy > 0.5; ci95: 95 % Clopper-Pearson interval of the accuracy; "
                         "train_accuracy: the classifier on its own training images (near 0.5 = it "
                         "learnt nothing, so a test accuracy near 0.5 proves nothing)")

DOWNSTREAM_DEFINITIONS = {
    "real": "classifier trained on the real (imbalanced) training split",
    "real+synthetic": "classifier trained on the real training split plus synthetic images that "
                      "bring every class up to the largest class count",
    "synthetic": "classifier trained on synthetic images only",
    "test": "tested on real images of subjects never used in training; f1 of class 1 for two "
            "classes, macro f1 otherwise; roc_auc one-vs-rest for more than two classes; "
            "mean and population std over seeds",
}


@dataclass(frozen=True)
class Budget:
    """Training budget of one classifier."""

    epochs: int = 5
    batch_size: int = 32
    filters: int = 16
    learning_rate: float = 1e-3
    min_steps: int = 0          # least optimisation steps: a small set gets more epochs


class SliceCNN(keras.Model):
    """Strided conv blocks, global average pool, a feature layer, class logits."""

    def __init__(self, n_classes: int = 2, filters: int = 16, blocks: int = 3,
                 feature_dim: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.n_classes, self.filters, self.blocks, self.feature_dim = n_classes, filters, blocks, feature_dim
        self.convs = [keras.layers.Conv2D(filters * 2 ** min(i, 3), 3, strides=2, padding="same",
                                          activation="relu") for i in range(blocks)]
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.feature = keras.layers.Dense(feature_dim, activation="relu")
        self.logits = keras.layers.Dense(n_classes)

    def features(self, x, training=False):
        """Penultimate activations [B, feature_dim]."""
        for conv in self.convs:
            x = conv(x, training=training)
        return self.feature(self.pool(x))

    def call(self, x, training=False):
        return self.logits(self.features(x, training=training))

    def get_config(self):
        return dict(super().get_config(), n_classes=self.n_classes, filters=self.filters,
                    blocks=self.blocks, feature_dim=self.feature_dim)


def _images(x) -> np.ndarray:
    arr = np.asarray(x, np.float32)
    return arr[..., None] if arr.ndim == 3 else arr


def fit_classifier(x, y, n_classes: int, seed: int = 0, budget: Budget = Budget()) -> SliceCNN:
    """Train a SliceCNN (Adam, cross-entropy) on images x and integer labels y."""
    x, y = _images(x), np.asarray(y, np.int32)
    keras.utils.set_random_seed(seed)
    blocks = max(1, min(4, int(np.log2(min(x.shape[1:3]) / 4))))
    model = SliceCNN(n_classes=n_classes, filters=budget.filters, blocks=blocks)
    model.compile(optimizer=keras.optimizers.Adam(budget.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = -(-len(x) // budget.batch_size)
    epochs = max(budget.epochs, -(-budget.min_steps // batches))
    with progress.bar(f"classifier ({n_classes} classes)", epochs * batches) as shown:
        model.fit(x, y, batch_size=budget.batch_size, epochs=epochs, shuffle=True, verbose=0,
                  callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=lambda *_, **__: shown.update())])
    return model


def predict_proba(model: SliceCNN, x, batch_size: int = 256) -> np.ndarray:
    """Class probabilities [N, n_classes]."""
    x = _images(x)
    logits = [model(x[i:i + batch_size], training=False) for i in range(0, len(x), batch_size)]
    return np.asarray(keras.ops.softmax(keras.ops.concatenate(logits), axis=-1))


def _balanced(a: np.ndarray, b: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Both sets cut at random to the smaller one's size."""
    n = min(len(a), len(b))
    return a[rng.choice(len(a), n, replace=False)], b[rng.choice(len(b), n, replace=False)]


def two_sample_test(real_train, fake_train, real_test, fake_test, seed: int = 0,
                    budget: Budget = Budget()) -> dict:
    """Real (0) vs synthetic (1) classification accuracy on held-out images, realism, and how
    sure the accuracy is (binomial p-value and interval, training accuracy)."""
    rng = np.random.default_rng(seed)
    sets = [_images(s) for s in (real_train, fake_train, real_test, fake_test)]
    if min(len(s) for s in sets) == 0:
        raise UserError("two-sample test", "every real / synthetic train / test set needs images")
    rtr, ftr = _balanced(sets[0], sets[1], rng)
    rte, fte = _balanced(sets[2], sets[3], rng)
    x_train, y_train = np.concatenate([rtr, ftr]), np.repeat([0, 1], len(rtr))
    model = fit_classifier(x_train, y_train, 2, seed, budget)
    y_test = np.repeat([0, 1], len(rte))
    pred = predict_proba(model, np.concatenate([rte, fte])).argmax(axis=1)
    right = int((pred == y_test).sum())
    accuracy = right / len(y_test)
    p_value = stats.binomtest(right, len(y_test), 0.5, alternative="greater").pvalue
    ci = stats.binomtest(right, len(y_test)).proportion_ci(0.95)
    train_accuracy = float((predict_proba(model, x_train).argmax(axis=1) == y_train).mean())
    return {"accuracy": accuracy, "realism": 1.0 - 2.0 * abs(accuracy - 0.5),
            "p_value": float(p_value), "ci95": [float(ci.low), float(ci.high)],
            "train_accuracy": train_accuracy,
            "n_train_per_class": len(rtr), "n_test_per_class": len(rte), "seed": seed,
            "definition": TWO_SAMPLE_DEFINITION}


def _balance_with_synthetic(train_x, train_y, synthetic_x, synthetic_y, n_classes, rng):
    """Real images plus synthetic ones of each class up to the largest real class count."""
    counts = np.bincount(train_y, minlength=n_classes)
    xs, ys, added = [train_x], [train_y], {}
    for c in range(n_classes):
        pool = np.flatnonzero(synthetic_y == c)
        take = rng.permutation(pool)[:max(0, counts.max() - counts[c])]
        xs.append(synthetic_x[take])
        ys.append(synthetic_y[take])
        added[int(c)] = int(len(take))
    return np.concatenate(xs), np.concatenate(ys), added


def _scores(y_true, proba, n_classes) -> dict[str, float]:
    pred = proba.argmax(axis=1)
    if n_classes == 2:
        f1 = skm.f1_score(y_true, pred, pos_label=1, average="binary", zero_division=0)
        auc = skm.roc_auc_score(y_true, proba[:, 1])
    else:
        f1 = skm.f1_score(y_true, pred, average="macro", labels=range(n_classes), zero_division=0)
        auc = skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=range(n_classes))
    return {"accuracy": skm.accuracy_score(y_true, pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y_true, pred),
            "f1": f1, "roc_auc": auc}


def downstream(train_x, train_y, test_x, test_y, synthetic_x=None, synthetic_y=None,
               seeds=(0, 1, 2), mode: str = "real", budget: Budget = Budget()) -> dict:
    """Train a classifier per seed in ``mode`` and score it on the real held-out test set."""
    if mode not in DOWNSTREAM_DEFINITIONS or mode == "test":
        raise UserError("downstream", f"unknown mode {mode!r} (known: real, real+synthetic, synthetic)")
    train_x, test_x = _images(train_x), _images(test_x)
    train_y, test_y = np.asarray(train_y, np.int32), np.asarray(test_y, np.int32)
    if mode != "real":
        if synthetic_x is None or synthetic_y is None or len(synthetic_x) == 0:
            raise UserError("downstream", f"mode {mode!r} needs synthetic images and labels")
        synthetic_x, synthetic_y = _images(synthetic_x), np.asarray(synthetic_y, np.int32)
    labels = [train_y, test_y] + ([synthetic_y] if mode != "real" else [])
    if min(int(y.min()) for y in labels) < 0:
        raise UserError("downstream", "every image needs a label (found -1, unlabelled)")
    n_classes = int(max(int(y.max()) for y in labels)) + 1
    present = np.unique(test_y)
    if len(present) < 2 or (n_classes > 2 and len(present) < n_classes):
        raise UserError("downstream", f"the test set holds classes {present.tolist()} only; "
                                      "ROC AUC needs every class")
    per_seed: dict[str, list[float]] = {}
    added = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        if mode == "real":
            x, y = train_x, train_y
        elif mode == "synthetic":
            x, y = synthetic_x, synthetic_y
        else:
            x, y, added = _balance_with_synthetic(train_x, train_y, synthetic_x, synthetic_y,
                                                  n_classes, rng)
        model = fit_classifier(x, y, n_classes, seed, budget)
        for name, value in _scores(test_y, predict_proba(model, test_x), n_classes).items():
            per_seed.setdefault(name, []).append(float(value))
    out = {name: {"mean": float(np.mean(v)), "std": float(np.std(v)), "per_seed": v}
           for name, v in per_seed.items()}
    out.update(mode=mode, seeds=list(seeds), n_classes=n_classes, n_train=int(len(y)),
               n_test=int(len(test_y)), synthetic_added=added,
               definition=DOWNSTREAM_DEFINITIONS[mode] + "; " + DOWNSTREAM_DEFINITIONS["test"])
    return out


def train_feature_classifier(x, y, seed: int = 0, budget: Budget = Budget()) -> SliceCNN:
    """A SliceCNN trained on real training images and labels, for FID "classifier" features."""
    y = np.asarray(y, np.int32)
    if len(np.unique(y)) < 2:
        raise UserError("feature classifier", "needs at least two classes in the training labels")
    return fit_classifier(x, y, int(y.max()) + 1, seed, budget)
