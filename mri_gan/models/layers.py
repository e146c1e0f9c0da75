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
