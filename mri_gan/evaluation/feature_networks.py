"""Feature networks of the distribution metrics: images [B, H, W, 1] in [-1, 1] -> activations
[B, D]. The metrics themselves (``mri_gan.evaluation.metrics``) work on activations only."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from mri_gan import progress
from mri_gan.errors import UserError
from mri_gan.evaluation import classifiers

FEATURE_NETWORKS = {
    "inception": "InceptionV3 ImageNet weights, 2048-d global average pool, inputs resized to "
                 "299x299 and repeated to 3 channels",
    "vgg19-mri": "the project's MRI-trained VGG19 (mri_gan.style.vgg, weights='mri'), "
                 "block5_pool averaged over space (512-d; images of at least 32x32)",
    "classifier": "penultimate layer of a small CNN trained on the real training split "
                  "(mri_gan.evaluation.classifiers.train_feature_classifier)",
}

VGG_LAYER = "block5_pool"
INCEPTION_WEIGHTS = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
FEATURE_CHOICES = ("auto", *FEATURE_NETWORKS)


def _gray(images) -> np.ndarray:
    arr = np.asarray(images, np.float32)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] != 1:
        raise ValueError(f"expected gray [N, H, W] or [N, H, W, 1] images, got {arr.shape}")
    return arr


def _inception_file() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / INCEPTION_WEIGHTS


def _inception():
    """InceptionV3 without top from the Keras cache; a UserError instead of a download."""
    path = _inception_file()
    if not path.is_file():
        raise UserError("inception", f"ImageNet weights not found at {path}; copy {INCEPTION_WEIGHTS} "
                                     "there (or set KERAS_HOME), or choose the feature network "
                                     "vgg19-mri or classifier")
    model = keras.applications.InceptionV3(include_top=False, weights=str(path), pooling="avg",
                                           input_shape=(299, 299, 3))

    def run(batch):
        x = tf.image.resize(batch, (299, 299), method="bilinear")  # already in [-1, 1]
        return model(tf.repeat(x, 3, axis=-1), training=False)

    return run


def _vgg19_mri(weights: str = "mri"):
    """The project's MRI VGG19 (mri_gan.style.vgg), ``VGG_LAYER`` averaged over space, and what
    ``vgg.feature_extractor`` says of its weights."""
    try:
        from mri_gan.style import vgg
    except ImportError as err:
        raise UserError("vgg19-mri", f"mri_gan.style.vgg is not available ({err})") from None
    model, info = vgg.feature_extractor(weights, layers=(VGG_LAYER,))

    def run(batch):
        return keras.ops.mean(model(batch, training=False)[VGG_LAYER], axis=(1, 2))

    return run, info


def feature_network(name: str, classifier=None):
    """A function from an image batch [B, H, W, 1] in [-1, 1] to activations [B, D].

    ``name``: "inception", "vgg19-mri" or "classifier" (then ``classifier`` is the model returned
    by ``classifiers.train_feature_classifier``).
    """
    if name == "inception":
        return _inception()
    if name == "vgg19-mri":
        return _vgg19_mri()[0]
    if name == "classifier":
        if classifier is None:
            raise ValueError("the classifier feature network needs classifier=train_feature_classifier(...)")
        return lambda batch: classifier.features(batch, training=False)
    raise UserError("feature network", f"unknown feature network {name!r} "
                                       f"(known: {', '.join(FEATURE_NETWORKS)})")


def feature_activations(images, network, classifier=None, batch_size: int = 64) -> np.ndarray:
    """Activations [N, D] (float64) of gray images in [-1, 1] through a feature network.

    ``network`` is a name (see ``feature_network``) or a function made by ``feature_network``.
    """
    run = feature_network(network, classifier) if isinstance(network, str) else network
    x = _gray(images)
    parts = []
    with progress.bar(f"features of {len(x)} images", -(-len(x) // batch_size), "batch") as shown:
        for i in range(0, len(x), batch_size):
            parts.append(np.asarray(run(x[i:i + batch_size])))
            shown.update()
    return np.concatenate(parts).astype(np.float64)


def choose(name: str, vgg_weights: str, train_x, train_y, seed: int, budget: classifiers.Budget):
    """(activation function, network name, description) of feature network ``name`` (one of
    FEATURE_CHOICES; auto: inception when its weights are cached, else vgg19-mri when MRI VGG19
    weights exist, else a classifier trained here on ``train_x``, ``train_y`` with ``budget``)."""
    from mri_gan.style import vgg

    if name == "auto":
        if _inception_file().is_file():
            name = "inception"
        elif _vgg_folder(vgg_weights) is not None or (vgg.MRI_DIR / vgg.MRI_WEIGHTS).is_file():
            name = "vgg19-mri"
        else:
            name = "classifier"
    if name == "vgg19-mri":
        folder = _vgg_folder(vgg_weights)
        run, info = _vgg19_mri(str(folder) if folder else "mri")
        return run, name, f"{FEATURE_NETWORKS[name]}; weights {info.get('file')}"
    if name == "classifier":
        labelled = train_y >= 0
        model = classifiers.train_feature_classifier(train_x[labelled], train_y[labelled], seed, budget)
        return feature_network(name, model), name, FEATURE_NETWORKS[name]
    if name not in FEATURE_NETWORKS:
        raise UserError("--feature-network", f"unknown feature network {name!r} (known: {', '.join(FEATURE_CHOICES)})")
    return feature_network(name), name, FEATURE_NETWORKS[name]


def _vgg_folder(vgg_weights: str) -> Path | None:
    """A pretrain-vgg folder given as --vgg-weights PATH, else None."""
    from mri_gan.style import vgg

    path = Path(str(vgg_weights)).expanduser()
    return path if str(vgg_weights) not in vgg.WEIGHT_CHOICES + ("none",) and path.is_dir() else None


