"""Differentiable augmentation (Zhao et al., NeurIPS 2020): the same kinds of random transform on
real and generated images before D sees them, with gradients flowing through to G, so that D
cannot memorise a small training set.

Each image's transform is fixed by ``PARAMETERS`` numbers uniform in [0, 1), drawn with the batch
outside the graph, so a batch (and a resumed run) repeats them; 0.5 everywhere is the identity
for ``translation`` and ``color``. Applied in the order translation, cutout, color; translation
and cutout fill with the background value -1.
"""

from __future__ import annotations

import tensorflow as tf

PARAMETERS = 6  # shift y, shift x (translation); centre y, centre x (cutout); brightness, contrast


def augment(images, u, policies) -> tf.Tensor:
    """images [N, H, W, C] in [-1, 1] (float32) transformed by ``policies`` with parameters u [N,
    PARAMETERS]."""
    u = tf.cast(u, images.dtype)
    if "translation" in policies:
        images = translate(images, u[:, 0:2])
    if "cutout" in policies:
        images = cutout(images, u[:, 2:4])
    if "color" in policies:
        images = color(images, u[:, 4:6])
    return images


def translate(images, u, ratio: float = 0.125) -> tf.Tensor:
    """Shift each image by up to ``ratio`` of its size along each axis (u 0.5: no shift)."""
    for axis in (1, 2):
        size = images.shape[axis]
        pad = int(size * ratio + 0.5)
        shift = tf.cast(tf.floor(u[:, axis - 1] * (2 * pad + 1)), tf.int32) - pad
        paddings = [[0, 0], [0, 0], [0, 0], [0, 0]]
        paddings[axis] = [pad, pad]
        padded = tf.pad(images, paddings, constant_values=-1.0)
        index = tf.range(size)[None, :] + pad - shift[:, None]
        images = tf.gather(padded, index, axis=axis, batch_dims=1)
    return images


def cutout(images, u, ratio: float = 0.5) -> tf.Tensor:
    """Erase a square of ``ratio`` times the image size centred anywhere in the image."""
    inside = []
    for axis in (1, 2):
        size = images.shape[axis]
        side = int(size * ratio + 0.5)
        start = tf.cast(tf.floor(u[:, axis - 1] * (size + 1 - side % 2)), tf.int32) - side // 2
        pos = tf.range(size)[None, :]
        inside.append((pos >= start[:, None]) & (pos < start[:, None] + side))
    erase = inside[0][:, :, None, None] & inside[1][:, None, :, None]
    return tf.where(erase, tf.constant(-1.0, images.dtype), images)


def color(images, u) -> tf.Tensor:
    """Brightness offset in [-0.5, 0.5), then contrast about the image mean by [0.5, 1.5)."""
    images = images + tf.reshape(u[:, 0] - 0.5, [-1, 1, 1, 1])
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * tf.reshape(u[:, 1] + 0.5, [-1, 1, 1, 1]) + mean
