"""VGG19 feature network for style transfer and feature distances, and its weights policy.

The network is VGG19 without its classifier (16 convolutions, 5 pooling layers, the layer names
of ``keras.applications.VGG19``) with max pooling replaced by average pooling, as the paper
does. Pooling has no weights, so ImageNet VGG19 weights load unchanged.

Inputs are gray images in [-1, 1], [N, H, W, 1]. :class:`GrayToCaffe` turns them into what the
ImageNet weights expect ("caffe" preprocessing: 0-255 pixel values, three BGR channels, minus
the ImageNet channel means); MRI-trained weights are trained behind the same layer.

Weights (``--vgg-weights``):

- ``imagenet``: the Keras cache file ``$KERAS_HOME/models/`` (default ``~/.keras/models/``)
  ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``, downloaded into the cache when absent
  (``MRI_GAN_VGG19_URL`` overrides the address, e.g. for a mirror).
- ``mri``: weights trained by ``mri-gan pretrain-vgg``, by default in ``saved_models/vgg19_mri/``.
- ``random``: seeded He-normal initialisation (tests only).
- ``PATH``: a Keras weights file of VGG19 without top (``.h5`` as keras.applications ships it, or
  ``.weights.h5``), or a folder written by ``mri-gan pretrain-vgg``.
- ``auto``: ImageNet from the cache, else MRI weights when they exist, else ImageNet downloaded,
  else a one-line error saying how to provide weights.

MRI weight folders hold ``vgg19_trunk.weights.h5`` (the 16 convolutions, saved from
:func:`build_trunk`) and ``vgg19_mri.json`` (``"format": "mri_gan.vgg19_mri/1"`` and how they
were trained).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import warnings
from pathlib import Path

import keras
from keras import layers, ops

from mri_gan.errors import UserError

log = logging.getLogger(__name__)

#: (block, convolutions) of VGG19
BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
CONV_LAYERS = tuple(f"block{b}_conv{i}" for b, n in BLOCKS for i in range(1, n + 1))
POOL_LAYERS = tuple(f"block{b}_pool" for b, _ in BLOCKS)
LAYERS = tuple(name for b, n in BLOCKS
               for name in [f"block{b}_conv{i}" for i in range(1, n + 1)] + [f"block{b}_pool"])
FILTERS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}

STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
CONTENT_LAYERS = ("block5_conv2",)

#: the ImageNet channel means in BGR order, on 0-255 pixel values ("caffe" preprocessing)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

IMAGENET_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
                + IMAGENET_FILE)
IMAGENET_MD5 = "253f8cb515780f3b799900260a226db6"
DOWNLOAD_TIMEOUT_S = 20

MRI_DIR = Path("saved_models") / "vgg19_mri"
MRI_WEIGHTS = "vgg19_trunk.weights.h5"
MRI_INFO = "vgg19_mri.json"
MRI_FORMAT = "mri_gan.vgg19_mri/1"

WEIGHT_CHOICES = ("auto", "imagenet", "mri", "random")


@keras.saving.register_keras_serializable(package="mri_gan")
class GrayToCaffe(layers.Layer):
    """[-1, 1] gray [N, H, W, 1] -> caffe-preprocessed BGR [N, H, W, 3] (0-255 minus the means)."""

    def call(self, x):
        pixels = (x + 1.0) * 127.5
        mean = ops.convert_to_tensor(CAFFE_MEAN_BGR, dtype=self.compute_dtype)
        return ops.repeat(pixels, 3, axis=-1) - mean

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


def build_trunk(seed: int = 0) -> keras.Model:
    """VGG19's 16 convolutions and 5 average-pooling layers on caffe-preprocessed BGR input.

    Weights start He-normal with per-layer seeds derived from ``seed``.
    """
    inputs = keras.Input((None, None, 3), name="bgr")
    x = inputs
    k = 0
    for block, convs in BLOCKS:
        for i in range(1, convs + 1):
            x = layers.Conv2D(FILTERS[block], 3, padding="same", activation="relu",
                              kernel_initializer=keras.initializers.HeNormal(seed=seed * 100 + k),
                              name=f"block{block}_conv{i}")(x)
            k += 1
        x = layers.AveragePooling2D(2, name=f"block{block}_pool")(x)
    return keras.Model(inputs, x, name="vgg19_avgpool")


def features_model(trunk: keras.Model, layer_names) -> keras.Model:
    """Gray [-1, 1] images -> {layer name: activations}, computing only up to the deepest layer."""
    wanted = list(dict.fromkeys(layer_names))
    unknown = [n for n in wanted if n not in LAYERS]
    if unknown:
        raise UserError("layers", f"unknown VGG19 layer(s) {', '.join(unknown)} (known: {', '.join(LAYERS)})")
    gray = keras.Input((None, None, 1), name="gray")
    x = GrayToCaffe(name="gray_to_caffe", dtype="float32")(gray)  # full precision under mixed policies
    outputs = {}
    for name in LAYERS:
        x = trunk.get_layer(name)(x)
        if name in wanted:
            outputs[name] = x
        if len(outputs) == len(wanted):
            break
    model = keras.Model(gray, {n: outputs[n] for n in wanted}, name="vgg19_features")
    model.trainable = False
    return model


# --- weights -----------------------------------------------------------------------------

def keras_cache_file() -> Path:
    """Where Keras keeps the ImageNet VGG19 no-top weights."""
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()
    return home / "models" / IMAGENET_FILE


def _how_to_provide() -> str:
    return ("give --vgg-weights PATH (a local VGG19 no-top weights file), or train MRI weights with "
            f"`mri-gan pretrain-vgg --data SOURCE --out {MRI_DIR}/` and use --vgg-weights mri")


def _download_imagenet() -> Path:
    """Fetch the ImageNet weights into the Keras cache; a UserError when that fails (quickly)."""
    target = keras_cache_file()
    url = os.environ.get("MRI_GAN_VGG19_URL") or IMAGENET_URL
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        path = keras.utils.get_file(IMAGENET_FILE, url, cache_dir=str(target.parent.parent),
                                    cache_subdir="models", file_hash=IMAGENET_MD5)
    except Exception as err:  # network errors come as many types
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError("--vgg-weights", f"ImageNet VGG19 weights are not in the Keras cache ({target}) "
                                         f"and the download failed ({reason}); {_how_to_provide()}") from None
    finally:
        socket.setdefaulttimeout(previous)
    return Path(path)


def read_mri_info(folder: Path) -> dict:
    """The JSON that describes MRI-trained weights in ``folder``."""
    path = Path(folder) / MRI_INFO
    try:
        info = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(path, f"cannot read MRI VGG19 description: {err}") from None
    if info.get("format") != MRI_FORMAT:
        raise UserError(path, f"not an MRI VGG19 description (format {info.get('format')!r}, expected {MRI_FORMAT})")
    return info


def _load_file(trunk: keras.Model, path: Path, where: str) -> None:
    name = path.name.lower()
    if not name.endswith((".h5", ".hdf5")):
        raise UserError(where, "VGG19 weights must be a .h5 / .weights.h5 file or a pretrain-vgg folder")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trunk.load_weights(str(path))
    except Exception as err:  # Keras reports wrong files as ValueError, OSError, KeyError...
        raise UserError(where, f"not VGG19 no-top weights ({_load_error(err)})") from None


def _load_error(err: Exception) -> str:
    """Keras's loading error in a few words: the first mismatching shape when there is one."""
    text = " ".join(str(err).split())
    shapes = re.search(r"name=(\w+).*?variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
    if shapes:
        layer, expected, found = shapes.groups()
        return f"{layer} needs shape {expected}, the file has {found}"
    return text[:160] or type(err).__name__


def _mri_weights(folder: Path, where: str) -> tuple[Path, dict]:
    folder = Path(folder)
    weights = folder / MRI_WEIGHTS
    if not weights.is_file():
        raise UserError(where, f"no MRI VGG19 weights in {folder} (expected {MRI_WEIGHTS}); "
                               f"train them with `mri-gan pretrain-vgg --data SOURCE --out {folder}/`")
    return weights, read_mri_info(folder)


def load_trunk(weights: str = "auto", seed: int = 0, mri_dir: Path | None = None) -> tuple[keras.Model, dict]:
    """The VGG19 trunk with weights chosen by the policy above, and a dict saying what was used."""
    mri_dir = Path(mri_dir) if mri_dir is not None else MRI_DIR
    trunk = build_trunk(seed)
    choice = str(weights)
    info = {"requested": choice, "pooling": "average",
            "preprocessing": "gray [-1,1] -> 0-255, 3 BGR channels minus ImageNet means (caffe)"}
    if choice == "auto":
        if keras_cache_file().is_file():
            choice = "imagenet"
        elif (mri_dir / MRI_WEIGHTS).is_file():
            choice = "mri"
        else:
            choice = "imagenet"
    if choice == "random":
        info.update(weights="random", file=None, seed=seed)
    elif choice == "imagenet":
        path = keras_cache_file()
        if not path.is_file():
            path = _download_imagenet()
        _load_file(trunk, path, str(path))
        info.update(weights="imagenet", file=str(path))
    elif choice == "mri":
        path, trained = _mri_weights(mri_dir, "--vgg-weights")
        _load_file(trunk, path, str(path))
        info.update(weights="mri", file=str(path), trained=trained)
    else:
        path = Path(choice).expanduser()
        if not path.exists():
            raise UserError(path, f"no such VGG19 weights file (--vgg-weights takes {'|'.join(WEIGHT_CHOICES)}|PATH)")
        if path.is_dir():
            file, trained = _mri_weights(path, str(path))
            _load_file(trunk, file, str(file))
            info.update(weights="mri", file=str(file), trained=trained)
        else:
            _load_file(trunk, path, str(path))
            info.update(weights="file", file=str(path))
    log.info("VGG19 weights: %s%s (requested %s)", info["weights"],
             f" from {info['file']}" if info.get("file") else "", info["requested"])
    return trunk, info


def feature_extractor(weights: str = "auto", layers=STYLE_LAYERS + CONTENT_LAYERS, seed: int = 0,
                      mri_dir: Path | None = None) -> tuple[keras.Model, dict]:
    """A frozen model mapping gray [-1, 1] images [N, H, W, 1] to {layer: activations}.

    ``weights`` follows the policy in the module docstring; the dict says which weights were
    used (``weights``: imagenet | mri | random | file, ``file``, ``requested``, and for MRI
    weights ``trained``, the description written by pretrain-vgg). For FID-style features,
    ask for e.g. ``layers=("block5_pool",)`` and average over the spatial axes.
    """
    trunk, info = load_trunk(weights, seed=seed, mri_dir=mri_dir)
    model = features_model(trunk, layers)
    info["layers"] = list(dict.fromkeys(layers))
    return model, info
