"""Gradient penalties: WGAN-GP and R1 against critics whose input gradients are known."""

import numpy as np
import pytest
import tensorflow as tf

from mri_gan import losses

SHAPE = (3, 4, 4, 2)


def linear_critic(weight: np.ndarray):
    """x -> <weight, x> per example: its input gradient is ``weight`` everywhere."""
    w = tf.constant(weight, tf.float32)
    return lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None]


def half_square_critic(x):
    """x -> |x|^2 / 2 per example: its input gradient is x itself."""
    return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])


def draws(seed: int):
    rng = np.random.default_rng(seed)
    real = rng.uniform(-1, 1, SHAPE).astype(np.float32)
    fake = rng.uniform(-1, 1, SHAPE).astype(np.float32)
    return real, fake, rng.uniform(0, 1, SHAPE[0]).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1])
def test_wgan_gp_of_unit_norm_linear_critic_is_zero(seed):
    real, fake, mix = draws(seed)
    w = np.random.default_rng(seed + 10).standard_normal(SHAPE[1:])
    gp = losses.wgan_gradient_penalty(linear_critic(w / np.linalg.norm(w)), real, fake, mix).numpy()
    assert gp.shape == (SHAPE[0],)
    np.testing.assert_allclose(gp, 0.0, atol=1e-6)


@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_wgan_gp_of_linear_critic_is_squared_norm_excess(scale):
    real, fake, mix = draws(2)
    w = np.random.default_rng(3).standard_normal(SHAPE[1:])
    w *= scale / np.linalg.norm(w)
    gp = losses.wgan_gradient_penalty(linear_critic(w), real, fake, mix).numpy()
    np.testing.assert_allclose(gp, (scale - 1.0) ** 2, rtol=1e-4)


def test_wgan_gp_is_taken_at_the_interpolates():
    real, fake, mix = draws(4)
    at = real + mix[:, None, None, None] * (fake - real)
    norm = np.sqrt((at.astype(np.float64) ** 2).sum(axis=(1, 2, 3)))
    gp = losses.wgan_gradient_penalty(half_square_critic, real, fake, mix).numpy()
    np.testing.assert_allclose(gp, (norm - 1.0) ** 2, rtol=1e-4)
    ends = losses.wgan_gradient_penalty(half_square_critic, real, fake, np.array([0, 1, 0], np.float32)).numpy()
    for i, image in enumerate([real[0], fake[1], real[2]]):
        np.testing.assert_allclose(ends[i], (np.linalg.norm(image) - 1.0) ** 2, rtol=1e-4)


def test_r1_is_half_squared_gradient_at_the_reals():
    real, _, _ = draws(5)
    w = np.random.default_rng(6).standard_normal(SHAPE[1:])
    r1 = losses.r1_penalty(linear_critic(w), real).numpy()
    np.testing.assert_allclose(r1, 0.5 * (w ** 2).sum(), rtol=1e-5)
    per_example = losses.r1_penalty(half_square_critic, real).numpy()
    np.testing.assert_allclose(per_example, 0.5 * (real.astype(np.float64) ** 2).sum(axis=(1, 2, 3)), rtol=1e-5)
