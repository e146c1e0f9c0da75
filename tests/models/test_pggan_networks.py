"""Progressive GAN networks: feature widths, equalised layers, pixel norm and minibatch stddev,
upsampling, shapes at every stage, fade-in limits (config round trips and mixed precision:
test_networks.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mri_gan.models.layers import minibatch_stddev
from mri_gan.models.pggan_networks import (
    EqualConv2D,
    EqualDense,
    PGGANDiscriminator,
    PGGANGenerator,
    downsample,
    pixel_norm,
    upsample,
    upsample_bilinear,
    widths,
)


def test_widths_follow_fmap_base_within_min_and_max():
    assert widths(128, 4, 512, 128) == [128, 128, 64, 32, 16, 8]
    assert widths(128, 4, 512, 128, fmap_min=16) == [128, 128, 64, 32, 16, 16]
    assert widths(32, 8, 32, 16) == [8, 4, 2]


def test_equalised_layers_scale_weights_at_run_time():
    x = tf.random.normal([2, 5, 5, 3], seed=1)
    conv = EqualConv2D(4, 3, gain=2.0)
    y = conv(x)
    expected = tf.nn.conv2d(x, conv.kernel * float(2.0 / np.sqrt(27)), 1, "SAME") + conv.bias
    np.testing.assert_allclose(y, expected, atol=1e-5)
    dense = EqualDense(6)
    v = tf.random.normal([3, 50], seed=2)
    np.testing.assert_allclose(dense(v), v @ (dense.kernel * float(np.sqrt(2 / 50))), atol=1e-5)
    assert 0.8 < float(tf.math.reduce_std(dense.kernel)) < 1.2     # stored at unit scale


def test_pixel_norm_and_minibatch_stddev():
    x = tf.random.normal([8, 4, 4, 6], seed=3) * 5
    rms = tf.sqrt(tf.reduce_mean(tf.square(pixel_norm(x)), -1))
    np.testing.assert_allclose(rms, 1.0, atol=1e-4)
    y = minibatch_stddev(x)
    assert y.shape == (8, 4, 4, 7)
    np.testing.assert_array_equal(y[..., :6], x)
    # example i is in group i % 2 (groups of 4 out of 8): std over {i, i+2, i+4, i+6}
    group = tf.stack([x[0], x[2], x[4], x[6]])
    want = tf.reduce_mean(tf.sqrt(tf.math.reduce_variance(group, 0) + 1e-8))
    np.testing.assert_allclose(y[0, ..., 6], want, rtol=1e-5)
    np.testing.assert_allclose(y[6, ..., 6], want, rtol=1e-5)
    assert minibatch_stddev(tf.zeros([3, 2, 2, 1])).shape == (3, 2, 2, 2)   # group of 3


def test_bilinear_upsampling_interpolates_between_pixel_centres():
    x = tf.constant([[0.0, 4.0], [8.0, 12.0]])[None, :, :, None]
    want = [[0, 1, 3, 4], [2, 3, 5, 6], [6, 7, 9, 10], [8, 9, 11, 12]]   # edges clamped
    np.testing.assert_allclose(upsample_bilinear(x)[0, :, :, 0], want, atol=1e-6)
    half = upsample_bilinear(tf.cast(tf.random.normal([2, 3, 5, 4], seed=6), tf.bfloat16))
    assert half.dtype == tf.bfloat16 and half.shape == (2, 6, 10, 4)


def test_bilinear_generator_differs_only_inside_the_blocks():
    """Same weights: equal at the start resolution, different once a block upsamples features,
    and the fade-in's skip path stays nearest (as the reals' fade is)."""
    keras.utils.set_random_seed(0)
    near = PGGANGenerator(32, 4, 1, z_dim=8, fmap_base=32, fmap_max=16)
    bil = PGGANGenerator(32, 4, 1, z_dim=8, fmap_base=32, fmap_max=16, upsampling="bilinear")
    z = tf.random.normal([3, 8], seed=7)
    near(z), bil(z)
    bil.set_weights(near.get_weights())
    np.testing.assert_array_equal(near(z, level=0), bil(z, level=0))
    assert float(tf.reduce_max(tf.abs(near(z, level=2) - bil(z, level=2)))) > 1e-3
    np.testing.assert_array_equal(bil(z, level=2, alpha=tf.zeros([3])), upsample(bil(z, level=1)))


@pytest.fixture(scope="module")
def nets():
    keras.utils.set_random_seed(0)
    g = PGGANGenerator(32, 4, 2, z_dim=8, fmap_base=32, fmap_max=16, num_classes=3)
    d = PGGANDiscriminator(32, 4, 2, fmap_base=32, fmap_max=16, num_classes=3)
    z = tf.random.normal([4, 8], seed=4)
    labels = tf.constant([0, 1, 2, 0])
    return g, d, z, labels


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_shapes_at_every_stage(nets, level):
    g, d, z, labels = nets
    size = 4 * 2 ** level
    for alpha in (None, tf.fill([4], 0.5)):
        images = g(z, labels, level=level, alpha=alpha)
        assert images.shape == (4, size, size, 2)
        assert d(images, labels, level=level, alpha=alpha).shape == (4, 1)
    assert g(z, labels).shape == (4, 32, 32, 2)                  # default: the final resolution


@pytest.mark.parametrize("level", [1, 2, 3])
def test_fade_in_limits(nets, level):
    g, d, z, labels = nets
    zeros, ones = tf.zeros([4]), tf.ones([4])
    low = upsample(g(z, labels, level=level - 1))
    np.testing.assert_array_equal(g(z, labels, level=level, alpha=zeros), low)
    np.testing.assert_array_equal(g(z, labels, level=level, alpha=ones), g(z, labels, level=level))
    assert float(tf.reduce_max(tf.abs(g(z, labels, level=level, alpha=tf.fill([4], 0.5)) - low))) > 0
    images = tf.random.normal([4, 4 * 2 ** level, 4 * 2 ** level, 2], seed=5)
    np.testing.assert_array_equal(d(images, labels, level=level, alpha=zeros),
                                  d(downsample(images), labels, level=level - 1))
    np.testing.assert_array_equal(d(images, labels, level=level, alpha=ones), d(images, labels, level=level))


def test_all_blocks_built_up_front():
    g = PGGANGenerator(32, 4, 1, z_dim=8, fmap_base=32, fmap_max=16)
    g(tf.zeros([1, 8]), level=0)
    # 4 resolutions: dense + start conv + 3 blocks of 2 convs + 4 to_rgb, kernel and bias each
    assert len(g.weights) == 2 * (2 + 6 + 4)


def test_conditional_generator_depends_on_label(nets):
    g, _, z, _ = nets
    a = g(z[:1], tf.constant([0]), level=2)
    b = g(z[:1], tf.constant([1]), level=2)
    assert float(tf.reduce_max(tf.abs(a - b))) > 0

