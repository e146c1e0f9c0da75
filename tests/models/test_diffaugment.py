"""DiffAugment: identity at 0.5, exact shifts and erased squares filled with the background,
brightness / contrast, and gradients that reach the generated images."""

import numpy as np
import pytest
import tensorflow as tf

from mri_gan.models.diffaugment import PARAMETERS, augment, color, cutout, translate


@pytest.fixture(scope="module")
def images():
    return tf.constant(np.random.default_rng(0).uniform(-0.9, 0.9, (3, 16, 16, 2)).astype(np.float32))


def _shifted(x, shift, axis):
    """x moved by ``shift`` pixels along ``axis``, the pixels moved in set to -1."""
    out = np.roll(x, shift, axis=axis)
    edge = [slice(None)] * 4
    edge[axis] = slice(0, shift) if shift > 0 else slice(shift, None)
    out[tuple(edge)] = -1
    return out


def test_half_is_the_identity_for_translation_and_color(images):
    u = tf.fill([3, PARAMETERS], 0.5)
    out = augment(images, u, ("translation", "color"))
    np.testing.assert_allclose(out.numpy(), images.numpy(), atol=1e-6)


@pytest.mark.parametrize("u,shift", [(0.0, -2), (0.3, -1), (0.999, 2)])   # 16 px: -2 ... 2
def test_translation_shifts_each_axis_and_fills_with_background(images, u, shift):
    x = images.numpy()
    down, right = (translate(images, tf.constant([pair] * 3)).numpy() for pair in ([u, 0.5], [0.5, u]))
    np.testing.assert_array_equal(down, _shifted(x, shift, 1))
    np.testing.assert_array_equal(right, _shifted(x, shift, 2))


def test_cutout_erases_a_half_size_square_clipped_at_the_border(images):
    u = tf.constant([[0.5, 0.5], [0.0, 0.5], [0.999, 0.0]])
    out = cutout(images, u).numpy()
    erased = (out == -1).all(-1)
    assert erased[0, 4:12, 4:12].all() and erased[0].sum() == 64          # centred 8 x 8
    assert erased[1, 0:4, 4:12].all() and erased[1].sum() == 32           # top rows clipped
    assert erased[2, 12:16, 0:4].all() and erased[2].sum() == 16          # bottom-left corner
    np.testing.assert_array_equal(out[~erased], images.numpy()[~erased])


def test_color_shifts_brightness_and_scales_contrast_about_the_mean(images):
    x = images.numpy()
    brighter = color(images, tf.constant([[0.9, 0.5]] * 3)).numpy()
    np.testing.assert_allclose(brighter, x + 0.4, atol=1e-6)
    flatter = color(images, tf.constant([[0.5, 0.0]] * 3)).numpy()
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(flatter, (x - mean) * 0.5 + mean, atol=1e-6)


def test_gradients_reach_every_pixel_not_erased(images):
    u = tf.constant(np.random.default_rng(1).uniform(0, 1, (3, PARAMETERS)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(images)
        out = augment(images, u, ("translation", "cutout", "color"))
        total = tf.reduce_sum(out * out)
    grad = tape.gradient(total, images).numpy()
    kept = ~(cutout(images, u[:, 2:4]).numpy() == -1).all(-1)
    assert np.abs(grad).sum() > 0 and (grad != 0).any(-1).sum() <= kept.sum()
