"""Small building blocks shared by the model families."""

from __future__ import annotations

import keras


def batch_norm(name: str | None = None) -> keras.layers.Layer:
    """Batch normalisation synchronised across replicas, so N replicas train like one device."""
    return keras.layers.BatchNormalization(synchronized=True, momentum=0.9, epsilon=1e-5, name=name)


def leaky(name: str | None = None) -> keras.layers.Layer:
    return keras.layers.LeakyReLU(negative_slope=0.2, name=name)


def label_plane(num_classes: int, size: int, name: str) -> keras.Sequential:
    """Label -> one [size, size, 1] plane joined to an image input (conditional discriminators)."""
    return keras.Sequential([keras.layers.Embedding(num_classes, 32),
                             keras.layers.Dense(size * size),
                             keras.layers.Reshape((size, size, 1))], name=name)


def minibatch_stddev(x, group_size: int = 4):
    """Append one feature map: the standard deviation across groups of examples, averaged over
    features and pixels (the largest group of at most ``group_size`` dividing a static batch;
    the whole batch when the batch size is not known while tracing)."""
    n = x.shape[0]
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    if n:
        group = next(g for g in range(min(group_size, n), 0, -1) if n % g == 0)
        shape = (group, -1, h, w, c)   # example i is in group i % (n / group), as in Karras et al.
    else:
        shape = (-1, 1, h, w, c)
    y = keras.ops.reshape(keras.ops.cast(x, "float32"), shape)
    std = keras.ops.sqrt(keras.ops.var(y, axis=0) + 1e-8)                 # [N / group, H, W, C]
    std = keras.ops.mean(std, axis=(1, 2, 3), keepdims=True)             # [N / group, 1, 1, 1]
    reps = keras.ops.shape(y)[0]
    std = keras.ops.reshape(keras.ops.tile(std[None], (reps, 1, h, w, 1)), (-1, h, w, 1))
    return keras.ops.concatenate([x, keras.ops.cast(std, x.dtype)], axis=-1)
