"""The DCGAN networks (paper section 3.1).

G: uniform z -> dense -> reshape 4x4 -> transposed convolutions (stride 2, BN, LeakyReLU) up to
the image size -> tanh. D: stride-2 convolutions with channels doubling, BN on every layer but
the first, LeakyReLU, one logit (the sigmoid lives in the loss). Conditional: a label embedding
joins z and a label plane joins D's input. ``minibatch_std`` appends the batch's feature spread
to D's last feature map (Karras et al.).
"""

from __future__ import annotations

import math

import keras

from mri_gan.models.layers import batch_norm, label_plane, leaky, minibatch_stddev


def _levels(image_size: int) -> int:
    levels = int(math.log2(image_size // 4))
    if 4 * 2 ** levels != image_size or levels < 2:
        raise ValueError(f"image_size {image_size} must be a power of two >= 16")
    return levels


def _labels(num_classes: int):
    """One label to build a conditional network with, or None."""
    return keras.ops.zeros((1,), "int32") if num_classes else None


@keras.saving.register_keras_serializable(package="mri_gan")
class DCGANGenerator(keras.Model):
    """z [N, z_dim] (and labels [N] when conditional) -> images [N, size, size, channels] in [-1, 1]."""

    def __init__(self, image_size=128, channels=1, z_dim=100, filters=64, num_classes=0, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.channels, self.z_dim = image_size, channels, z_dim
        self.filters, self.num_classes = filters, num_classes
        levels = _levels(image_size)
        widths = [min(filters * 2 ** (levels - 1 - i), filters * 8) for i in range(levels)]
        self.embed = keras.layers.Embedding(num_classes, 32) if num_classes else None
        self.project = keras.layers.Dense(4 * 4 * widths[0], use_bias=False)
        self.project_norm = batch_norm()
        self.project_act = leaky()
        self.reshape = keras.layers.Reshape((4, 4, widths[0]))
        self.blocks = []
        for width in widths[1:]:
            self.blocks.append([keras.layers.Conv2DTranspose(width, 4, 2, "same", use_bias=False),
                                batch_norm(), leaky()])
        self.to_image = keras.layers.Conv2DTranspose(channels, 4, 2, "same")
        self.out_act = keras.layers.Activation("tanh", dtype="float32")

    def build(self, z_shape):
        """Create every weight (a network loaded from a .keras file passes the shape of z only)."""
        self.call(keras.ops.zeros((1, self.z_dim)), _labels(self.num_classes))

    def call(self, z, labels=None, training=None):
        x = z
        if self.embed is not None:
            x = keras.ops.concatenate([z, keras.ops.cast(self.embed(labels), z.dtype)], axis=-1)
        x = self.reshape(self.project_act(self.project_norm(self.project(x), training=training)))
        for conv, norm, act in self.blocks:
            x = act(norm(conv(x), training=training))
        return self.out_act(self.to_image(x))

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "channels": self.channels,
                "z_dim": self.z_dim, "filters": self.filters, "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="mri_gan")
class DCGANDiscriminator(keras.Model):
    """images [N, size, size, channels] (and labels) -> one logit per image [N, 1]."""

    def __init__(self, image_size=128, channels=1, filters=64, num_classes=0, minibatch_std=False, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.channels = image_size, channels
        self.filters, self.num_classes, self.minibatch_std = filters, num_classes, minibatch_std
        levels = _levels(image_size)
        self.label_plane = label_plane(num_classes, image_size, "label_plane") if num_classes else None
        self.blocks = []
        for i in range(levels):
            conv = keras.layers.Conv2D(min(filters * 2 ** i, filters * 8), 4, 2, "same",
                                       use_bias=(i == 0))
            self.blocks.append([conv, batch_norm() if i else None, leaky()])
        self.flatten = keras.layers.Flatten()
        self.logit = keras.layers.Dense(1, dtype="float32")

    def build(self, images_shape):
        """Create every weight (a network loaded from a .keras file passes the images' shape only)."""
        self.call(keras.ops.zeros((1, self.image_size, self.image_size, self.channels)), _labels(self.num_classes))

    def call(self, images, labels=None, training=None):
        x = images
        if self.label_plane is not None:
            x = keras.ops.concatenate([x, keras.ops.cast(self.label_plane(labels), x.dtype)], axis=-1)
        for conv, norm, act in self.blocks:
            x = conv(x)
            if norm is not None:
                x = norm(x, training=training)
            x = act(x)
        if self.minibatch_std:
            x = minibatch_stddev(x)
        return self.logit(self.flatten(x))

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "channels": self.channels,
                "filters": self.filters, "num_classes": self.num_classes, "minibatch_std": self.minibatch_std}
