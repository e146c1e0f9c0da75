"""Pix2Pix networks: UNet and PatchGAN shapes, the UNet's layout, upsampling and instance norm,
the PatchGAN's receptive field (config round trips and mixed precision: test_networks.py)."""

import numpy as np
import pytest
import tensorflow as tf

from mri_gan.models.patchgan import PatchDiscriminator, patch_receptive_field
from mri_gan.models.unet import AttentionGate, UNetGenerator


@pytest.mark.parametrize("size,depth", [(128, 7), (256, 8)])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("attention", [False, True])
def test_shapes(size, depth, channels, attention):
    g = UNetGenerator(size, channels, 1, depth, filters=4, attention=attention, input_skip=attention)
    d = PatchDiscriminator(channels + 1, filters=4)
    x = tf.random.uniform([2, size, size, channels], -1, 1)
    y = g(x, training=False)
    assert y.shape == (2, size, size, 1)
    assert float(tf.reduce_max(tf.abs(y))) <= 1.0
    assert d(x, y).shape == (2, size // 8, size // 8, 1)


def test_generator_layout():
    g = UNetGenerator(128, 1, 4, depth=7, filters=8, attention=True)
    g(tf.zeros([1, 128, 128, 1]))
    assert [b[0].filters for b in g.down] == [8, 16, 32, 64, 64, 64, 64]
    assert g.down[0][1] is None and g.down[-1][1] is None           # no BN outermost / innermost
    assert all(b[1] is not None for b in g.down[1:-1])
    assert [b[2] is not None for b in g.up] == [True, True, True, False, False, False]  # dropout
    assert all(isinstance(b[4], AttentionGate) for b in g.up)
    assert g(tf.zeros([1, 128, 128, 1])).shape == (1, 128, 128, 4)
    with pytest.raises(ValueError):
        UNetGenerator(32, 1, 1, depth=6)


def test_resize_upsampling_has_no_transposed_convolution():
    g = UNetGenerator(64, 2, 1, depth=6, filters=4, upsampling="resize")
    assert g(tf.zeros([1, 64, 64, 2])).shape == (1, 64, 64, 1)
    kinds = {type(layer).__name__ for layer in g._flatten_layers()}
    assert "Conv2DTranspose" not in kinds and "UpSampling2D" in kinds
    assert "Conv2DTranspose" in {type(layer).__name__ for layer in
                                 UNetGenerator(64, 2, 1, depth=6, filters=4)._flatten_layers()}
    with pytest.raises(ValueError, match="upsampling"):
        UNetGenerator(64, 2, 1, depth=6, upsampling="nearest")


def test_instance_norm_is_the_same_in_training_and_inference():
    g = UNetGenerator(32, 1, 1, depth=4, filters=4, dropout=0.0, norm="instance")
    x = tf.random.uniform([3, 32, 32, 1], -1, 1)
    np.testing.assert_allclose(g(x, training=True), g(x, training=False), atol=1e-5)
    alone = g(x[:1], training=False)   # per image: the rest of the batch does not matter
    np.testing.assert_allclose(alone, g(x, training=False)[:1], atol=1e-5)


def test_receptive_field_is_70():
    assert patch_receptive_field(3) == 70
    assert patch_receptive_field(1) == 16 and patch_receptive_field(2) == 34
    d = PatchDiscriminator(2, filters=4, patch_layers=3)
    x = tf.random.uniform([1, 128, 128, 1], -1, 1)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = d(x, x, training=False)
        centre = logits[0, 8, 8, 0]
    grad = np.abs(tape.gradient(centre, x).numpy()[0, ..., 0])
    rows, cols = np.flatnonzero(grad.sum(axis=1)), np.flatnonzero(grad.sum(axis=0))
    assert rows[-1] - rows[0] + 1 == 70 and cols[-1] - cols[0] + 1 == 70
