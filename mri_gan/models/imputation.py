"""Imputation batches: which available sequences a training example hides, and the network
input of images with the given ones kept plus one availability plane per sequence."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mri_gan.data.records import SEQUENCES


def hidden_sequences(available: tf.Tensor, count_draw: tf.Tensor, order_draw: tf.Tensor,
                     weights=(1.0, 1.0, 1.0)) -> tf.Tensor:
    """[N, 4] bool: per example, 1 to min(3, available - 1) of its ``available`` sequences to hide,
    the count drawn with relative ``weights`` (of 1, 2, 3; renormalised over the feasible counts,
    uniform where those all weigh 0) by ``count_draw`` ([N] uniform in [0, 1)), which ones by
    ``order_draw`` ([N, 4] uniform: the available ones with the lowest draws)."""
    available = tf.cast(available, tf.bool)
    most = tf.minimum(3, tf.reduce_sum(tf.cast(available, tf.int32), axis=1) - 1)
    feasible = tf.range(1, 4)[None, :] <= most[:, None]
    w = tf.where(feasible, tf.constant(weights, tf.float32)[None, :], 0.0)
    w = tf.where(tf.reduce_sum(w, axis=1, keepdims=True) > 0, w, tf.cast(feasible, tf.float32))
    cumulative = tf.cumsum(w, axis=1)
    count = 1 + tf.reduce_sum(tf.cast(cumulative <= count_draw[:, None] * cumulative[:, -1:], tf.int32), axis=1)
    last = 3 - tf.argmax(tf.cast(tf.reverse(w > 0, [1]), tf.int32), axis=1, output_type=tf.int32)
    count = tf.minimum(count, last)          # a draw rounded up to the total stays on a weighted count
    rank = tf.argsort(tf.argsort(tf.where(available, order_draw, 2.0), axis=1), axis=1)
    return available & (rank < count[:, None])


def hide_sequences(available: np.ndarray, rng: np.random.Generator, weights=(1.0, 1.0, 1.0)) -> np.ndarray:
    """:func:`hidden_sequences` of NumPy ``available`` with its draws from ``rng``."""
    seed = tf.constant(rng.integers(0, 2 ** 62, 2), tf.int64)
    count, order = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    n = len(available)
    return hidden_sequences(available, tf.random.stateless_uniform([n], count),
                            tf.random.stateless_uniform([n, len(SEQUENCES)], order), weights).numpy()


def imputation_input(images, given) -> tf.Tensor:
    """[N, H, W, 4 B] images (B slice blocks of the four sequences: ``data.context``) and [N, 4] given
    flags -> [N, H, W, 4 B + 4]: the first block's given images (others 0), the four flags as planes,
    then the other blocks gated by the same flags."""
    images = tf.convert_to_tensor(images, tf.float32)
    g = tf.cast(given, tf.float32)[:, None, None, :]
    gated = images * tf.tile(g, [1, 1, 1, images.shape[-1] // len(SEQUENCES)])
    planes = tf.broadcast_to(g, tf.shape(images[..., :len(SEQUENCES)]))
    return tf.concat([gated[..., :len(SEQUENCES)], planes, gated[..., len(SEQUENCES):]], axis=-1)
