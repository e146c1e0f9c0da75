"""DCGAN / cDCGAN models: shape tables, discriminator layout, labels, label smoothing, minibatch stddev
(config round trips and mixed precision: test_networks.py)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from mri_gan.models.dcgan_networks import DCGANDiscriminator, DCGANGenerator


@pytest.mark.parametrize("size", [64, 128, 256])
@pytest.mark.parametrize("classes", [0, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(size, classes, channels):
    g = DCGANGenerator(size, channels, z_dim=8, filters=4, num_classes=classes)
    d = DCGANDiscriminator(size, channels, filters=4, num_classes=classes)
    labels = tf.constant([0, classes - 1 if classes else 0]) if classes else None
    z = tf.random.uniform([2, 8], -1, 1)
    images = g(z, labels, training=False)
    assert images.shape == (2, size, size, channels)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    assert d(images, labels).shape == (2, 1)


def test_discriminator_layout():
    d = DCGANDiscriminator(64, 1, filters=8)
    d(tf.zeros([1, 64, 64, 1]))
    convs = [b[0] for b in d.blocks]
    assert [c.filters for c in convs] == [8, 16, 32, 64]          # channels double
    assert all(c.strides == (2, 2) for c in convs)                 # each halves the size
    assert d.blocks[0][1] is None and all(b[1] is not None for b in d.blocks[1:])  # no BN first


def test_conditional_generator_depends_on_label():
    g = DCGANGenerator(32, 1, z_dim=8, filters=4, num_classes=2)
    z = tf.constant(np.random.default_rng(0).uniform(-1, 1, (1, 8)), tf.float32)
    a = g(z, tf.constant([0]), training=False)
    b = g(z, tf.constant([1]), training=False)
    assert float(tf.reduce_max(tf.abs(a - b))) > 0


def test_label_smoothing_moves_the_real_target():
    from mri_gan.losses import discriminator_bce

    fake = tf.constant([[-3.0]])
    real = tf.Variable([[math.log(9.0)]])         # sigmoid = 0.9
    with tf.GradientTape() as tape:
        smoothed = discriminator_bce(real, fake, real_target=0.9)
    assert abs(float(tape.gradient(smoothed, real)[0, 0])) < 1e-6     # optimum at p(real) = 0.9
    assert float(discriminator_bce(real, fake)[0]) < float(smoothed[0])


def test_config_refuses_label_smoothing_of_half():
    from mri_gan.config import resolve
    from mri_gan.errors import UserError

    with pytest.raises(UserError, match="label_smoothing"):
        resolve("dcgan", "smoke", "synthetic", {"label_smoothing": 0.5})


@pytest.mark.parametrize("minibatch_std", [False, True])
def test_minibatch_std_lets_d_see_the_batch(minibatch_std):
    D = DCGANDiscriminator(32, 1, 8, minibatch_std=minibatch_std)
    rng = np.random.default_rng(0)
    diverse = rng.uniform(-1, 1, (4, 32, 32, 1)).astype(np.float32)
    same = np.repeat(diverse[:1], 4, axis=0)
    a = D(tf.constant(diverse), training=False).numpy()[0, 0]
    b = D(tf.constant(same), training=False).numpy()[0, 0]
    assert (abs(a - b) > 1e-6) == minibatch_std
