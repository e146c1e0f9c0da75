"""Every Keras network and layer of mri_gan.models through the one harness (tests/network_harness.py):
the UNet with each of its options, the PatchGAN, the DCGAN and the PGGAN networks (at a small
size, also fading a block in), and the layers they are built from."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import keras
import numpy as np
import pytest
from network_harness import (
    Network,
    check_config_round_trip,
    check_keras_file,
    check_mixed_precision,
    check_network,
    check_registered,
    check_shape,
)

import mri_gan.models
from mri_gan.models.dcgan_networks import DCGANDiscriminator, DCGANGenerator
from mri_gan.models.patchgan import PatchDiscriminator
from mri_gan.models.pggan_networks import EqualConv2D, EqualDense, PGGANDiscriminator, PGGANGenerator
from mri_gan.models.unet import AttentionGate, LinearBase, UNetGenerator


def images(n, size, channels):
    """Inputs: ``n`` images of ``size`` x ``size`` x ``channels`` uniform in [-1, 1]."""
    return lambda rng: (rng.uniform(-1, 1, (n, size, size, channels)).astype(np.float32),)


def vectors(n, width):
    """Inputs: ``n`` vectors of ``width`` uniform in [-1, 1]."""
    return lambda rng: (rng.uniform(-1, 1, (n, width)).astype(np.float32),)


def flagged(n, size, channels):
    """Inputs: ``channels`` images, then one 0/1 availability plane per image (imputation)."""
    def make(rng):
        flags = rng.integers(0, 2, (n, 1, 1, channels)) * np.ones((1, size, size, 1))
        return (np.concatenate([images(n, size, channels)(rng)[0], flags.astype(np.float32)], -1),)
    return make


def latents(n, z_dim, classes=0):
    """Inputs: ``n`` latent vectors, and labels when there are ``classes``."""
    def make(rng):
        z = vectors(n, z_dim)(rng)
        return z + (rng.integers(0, classes, n),) if classes else z
    return make


def labelled(n, size, channels, classes):
    return lambda rng: images(n, size, channels)(rng) + (rng.integers(0, classes, n),)


def pair(n, size, condition, target):
    """Inputs of a PatchGAN: a condition and a target image."""
    return lambda rng: images(n, size, condition)(rng) + images(n, size, target)(rng)


FADE = dict(level=1, alpha=np.array([0.0, 0.3, 0.7, 1.0], np.float32))

CASES = {
    "unet": Network(UNetGenerator, dict(image_size=32, in_channels=1, out_channels=1, depth=4, filters=4),
                    images(2, 32, 1), (2, 32, 32, 1)),
    "unet-attention-instance-norm-input-skip": Network(
        UNetGenerator, dict(image_size=32, in_channels=3, out_channels=2, depth=4, filters=4, attention=True,
                            dropout=0.3, norm="instance", input_skip=True), images(2, 32, 3), (2, 32, 32, 2)),
    "unet-resize-residual": Network(
        UNetGenerator, dict(image_size=32, in_channels=8, out_channels=4, depth=5, filters=4, upsampling="resize",
                            residual=[[1, 5], [0, 4], None, None]), flagged(2, 32, 4), (2, 32, 32, 4)),
    "unet-linear-base": Network(
        UNetGenerator, dict(image_size=32, in_channels=8, out_channels=4, depth=5, filters=4, linear_base=4),
        flagged(2, 32, 4), (2, 32, 32, 4)),
    "unet-linear-base-context": Network(
        UNetGenerator, dict(image_size=32, in_channels=3, out_channels=1, depth=4, filters=4, linear_base=2,
                            context_channels=1), images(2, 32, 3), (2, 32, 32, 1)),
    "patchgan": Network(PatchDiscriminator, dict(in_channels=5, filters=4, patch_layers=2), pair(2, 32, 3, 2),
                        (2, 8, 8, 1)),
    "attention-gate": Network(AttentionGate, dict(channels=3),
                              lambda rng: images(2, 8, 4)(rng) + images(2, 8, 6)(rng), (2, 8, 8, 4),
                              float32_out=False),
    "linear-base": Network(LinearBase, dict(images=2, outputs=3, flagged=True), flagged(2, 8, 2), (2, 8, 8, 3)),
    "dcgan-generator": Network(DCGANGenerator, dict(image_size=16, channels=1, z_dim=4, filters=4),
                               latents(2, 4), (2, 16, 16, 1)),
    "dcgan-generator-conditional": Network(
        DCGANGenerator, dict(image_size=32, channels=2, z_dim=8, filters=4, num_classes=3), latents(2, 8, 3),
        (2, 32, 32, 2)),
    "dcgan-discriminator-minibatch-std": Network(
        DCGANDiscriminator, dict(image_size=16, channels=1, filters=4, minibatch_std=True), images(4, 16, 1), (4, 1)),
    "dcgan-discriminator-conditional": Network(
        DCGANDiscriminator, dict(image_size=32, channels=2, filters=4, num_classes=3), labelled(2, 32, 2, 3), (2, 1)),
    # 32 or more features per pixel: pixel norm over a handful of features is ill-conditioned, so
    # that bfloat16's rounding alone would move a smaller generator's output past BF16_TOLERANCE
    "pggan-generator-conditional-bilinear": Network(
        PGGANGenerator, dict(image_size=32, start_size=8, channels=2, z_dim=8, fmap_base=256, fmap_max=64,
                             num_classes=3, fmap_min=32, upsampling="bilinear"), latents(4, 8, 3), (4, 32, 32, 2)),
    "pggan-generator-fading": Network(
        PGGANGenerator, dict(image_size=16, start_size=4, channels=1, z_dim=8, fmap_base=256, fmap_max=64),
        latents(4, 8), (4, 8, 8, 1), FADE),
    "pggan-discriminator-conditional": Network(
        PGGANDiscriminator, dict(image_size=32, start_size=8, channels=2, fmap_base=256, fmap_max=64,
                                 num_classes=3, fmap_min=32), labelled(4, 32, 2, 3), (4, 1)),
    "pggan-discriminator-fading": Network(
        PGGANDiscriminator, dict(image_size=16, start_size=4, channels=1, fmap_base=256, fmap_max=64),
        images(4, 8, 1), (4, 1), FADE),
    "equal-conv": Network(EqualConv2D, dict(filters=3, kernel_size=1, gain=1.0), images(2, 5, 4), (2, 5, 5, 3),
                          float32_out=False),
    "equal-dense": Network(EqualDense, dict(units=5, gain=0.5), vectors(3, 7), (3, 5), float32_out=False),
}


@pytest.mark.parametrize("name", CASES)
def test_network(name):
    check_network(CASES[name])


def test_every_network_and_layer_of_the_models_has_a_case():
    defined = set()
    for module in pkgutil.iter_modules(mri_gan.models.__path__, "mri_gan.models."):
        members = inspect.getmembers(importlib.import_module(module.name), inspect.isclass)
        defined |= {c for _, c in members if issubclass(c, keras.layers.Layer) and c.__module__ == module.name}
    assert len(defined) >= 9 and defined == {case.cls for case in CASES.values()}


MODELS = [name for name, case in CASES.items() if issubclass(case.cls, keras.Model)]


@pytest.mark.parametrize("name", MODELS)
def test_keras_file_round_trip(name, tmp_path):
    check_keras_file(CASES[name], tmp_path)


class Forgetful(keras.layers.Layer):
    """A dense layer whose config forgets its width (and which no one registered)."""

    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units, self.dense = units, keras.layers.Dense(units)

    def call(self, x):
        return self.dense(x)

    def get_config(self):
        return {key: value for key, value in super().get_config().items() if key != "units"}


def test_the_harness_finds_a_forgotten_argument_a_missing_name_and_a_half_precision_output():
    forgetful = Network(Forgetful, dict(units=3), vectors(2, 4), (2, 3))
    net = check_shape(forgetful)
    with pytest.raises(AssertionError, match="units"):
        check_config_round_trip(forgetful, net)
    with pytest.raises(AssertionError, match="Forgetful"):
        check_registered(forgetful, net)
    dense = Network(keras.layers.Dense, dict(units=3), vectors(2, 4), (2, 3))      # its output is in bfloat16
    with pytest.raises(AssertionError, match="bfloat16"):
        check_mixed_precision(dense, dense.build())
    with pytest.raises(AssertionError):
        check_shape(Network(keras.layers.Dense, dict(units=3), vectors(2, 4), (2, 4)))
