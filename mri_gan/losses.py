"""Losses as pure tensor functions returning one value per example (reduce with
``tf.nn.compute_average_loss`` against the global batch)."""

from __future__ import annotations

import tensorflow as tf


def _flat(x: tf.Tensor) -> tf.Tensor:
    """[N, ...] -> [N, everything else]."""
    return tf.reshape(x, [tf.shape(x)[0], -1])


def _per_example_mean(x: tf.Tensor) -> tf.Tensor:
    """Average over every axis but the batch axis (PatchGAN maps -> one value per example)."""
    return tf.reduce_mean(_flat(tf.cast(x, tf.float32)), axis=1)


def bce_logits(target: float, logits: tf.Tensor) -> tf.Tensor:
    """Sigmoid cross-entropy of logits against a constant target, per example."""
    logits = tf.cast(logits, tf.float32)
    return _per_example_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(logits), target), logits=logits))


def discriminator_bce(real_logits: tf.Tensor, fake_logits: tf.Tensor, real_target: float = 1.0) -> tf.Tensor:
    """D loss: real pairs vs ``real_target`` (1, or 0.9 for one-sided label smoothing) + fake
    pairs vs zeros, per example."""
    return bce_logits(real_target, real_logits) + bce_logits(0.0, fake_logits)


def generator_bce(fake_logits: tf.Tensor) -> tf.Tensor:
    """Non-saturating G loss: fakes vs ones, per example."""
    return bce_logits(1.0, fake_logits)


def l1(a: tf.Tensor, b: tf.Tensor, weights: tf.Tensor | None = None) -> tf.Tensor:
    """Mean absolute difference per example; with ``weights`` a weighted mean over pixels."""
    return _weighted_mean(tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)), weights)


def l2(a: tf.Tensor, b: tf.Tensor, weights: tf.Tensor | None = None) -> tf.Tensor:
    """Mean squared difference per example; with ``weights`` a weighted mean over pixels."""
    return _weighted_mean(tf.square(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)), weights)


def _weighted_mean(diff: tf.Tensor, weights: tf.Tensor | None) -> tf.Tensor:
    """Per example: the mean of ``diff`` over its pixels, weighted by ``weights`` (broadcast)."""
    if weights is None:
        return _per_example_mean(diff)
    w = tf.cast(tf.broadcast_to(weights, tf.shape(diff)), tf.float32)
    return tf.reduce_sum(_flat(diff * w), 1) / tf.maximum(tf.reduce_sum(_flat(w), 1), 1.0)


def ssim_loss(a: tf.Tensor, b: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """1 - SSIM (``tf.image.ssim``, 11x11 Gaussian window) of images in [-1, 1] per example:
    channel by channel, averaged with ``weights`` [N, C]."""
    def planes(t):
        t = (tf.cast(t, tf.float32) + 1.0) / 2.0
        shape = tf.shape(t)
        return tf.reshape(tf.transpose(t, [0, 3, 1, 2]), [-1, shape[1], shape[2], 1])
    per = tf.reshape(tf.image.ssim(planes(a), planes(b), max_val=1.0), tf.shape(weights))
    w = tf.cast(weights, tf.float32)
    return 1.0 - tf.reduce_sum(per * w, 1) / tf.maximum(tf.reduce_sum(w, 1), 1.0)


def accuracy_from_logits(logits: tf.Tensor, real: bool) -> tf.Tensor:
    """Fraction of a per-example decision (mean over patches) that is right, per example."""
    p = _per_example_mean(tf.sigmoid(tf.cast(logits, tf.float32)))
    return tf.cast(p > 0.5 if real else p <= 0.5, tf.float32)


def wasserstein_d(real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
    """WGAN critic loss per example: D(fake) - D(real)."""
    return _per_example_mean(fake_scores) - _per_example_mean(real_scores)


def wasserstein_g(fake_scores: tf.Tensor) -> tf.Tensor:
    """WGAN generator loss per example: -D(fake)."""
    return -_per_example_mean(fake_scores)


def drift(real_scores: tf.Tensor) -> tf.Tensor:
    """PGGAN drift penalty per example: D(real)^2."""
    return _per_example_mean(tf.square(tf.cast(real_scores, tf.float32)))


def _squared_input_gradient(critic, at: tf.Tensor) -> tf.Tensor:
    """Per example, |grad critic|^2 with respect to ``at`` [N, ...] (the scores summed over the batch,
    so each example's gradient is its own score's)."""
    with tf.GradientTape() as tape:
        tape.watch(at)
        total = tf.reduce_sum(tf.cast(critic(at), tf.float32))
    return tf.reduce_sum(tf.square(tape.gradient(total, at)), axis=list(range(1, at.shape.rank)))


def wgan_gradient_penalty(critic, real: tf.Tensor, fake: tf.Tensor, mix: tf.Tensor) -> tf.Tensor:
    """WGAN-GP (Gulrajani et al. 2017) per example: (|grad critic| - 1)^2 at the interpolate
    real + mix * (fake - real), ``mix`` [N] in [0, 1]; ``critic`` maps images to scores."""
    real = tf.cast(real, tf.float32)
    at = real + tf.reshape(tf.cast(mix, tf.float32), [-1] + [1] * (real.shape.rank - 1)) * (
        tf.cast(fake, tf.float32) - real)
    return tf.square(tf.sqrt(_squared_input_gradient(critic, at) + 1e-8) - 1.0)


def r1_penalty(critic, real: tf.Tensor) -> tf.Tensor:
    """R1 (Mescheder et al. 2018) per example: |grad critic|^2 / 2 at the reals."""
    return 0.5 * _squared_input_gradient(critic, tf.cast(real, tf.float32))
