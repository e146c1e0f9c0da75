"""The progressive GAN's networks (Karras et al. 2018).

G and D hold every resolution block from the start; ``level`` (doublings above the start
resolution, a Python int) picks how many are used and ``alpha`` (a tensor) fades the newest block
in. Pixel-wise feature normalisation in G, minibatch standard deviation before D's last block,
equalised learning rate (weights drawn from N(0, 1) and scaled by He's constant at run time), no
batch normalisation. Conditional by label when ``num_classes``: a label embedding joins the latent
in G and a projection term joins D's score. G's blocks upsample nearest-neighbour, as Karras et
al.'s, or bilinearly.
"""

from __future__ import annotations

import math

import keras

from mri_gan.models.layers import minibatch_stddev

_SQRT2 = math.sqrt(2.0)


def widths(image_size: int, start_size: int, fmap_base: int, fmap_max: int, fmap_min: int = 1) -> list[int]:
    """Feature maps per resolution, start to final: 2 * fmap_base / resolution, kept within
    [fmap_min, fmap_max]."""
    sizes = [start_size * 2 ** k for k in range(int(math.log2(image_size // start_size)) + 1)]
    return [max(fmap_min, 1, min(2 * fmap_base // s, fmap_max)) for s in sizes]


def pixel_norm(x, epsilon: float = 1e-8):
    """Each pixel's feature vector scaled to unit root-mean-square."""
    return x * keras.ops.rsqrt(keras.ops.mean(keras.ops.square(x), axis=-1, keepdims=True) + epsilon)


def upsample(x, factor: int = 2):
    """Nearest-neighbour upsampling of [N, H, W, C]."""
    return keras.ops.repeat(keras.ops.repeat(x, factor, axis=1), factor, axis=2)


def upsample_bilinear(x):
    """2x bilinear upsampling of [N, H, W, C] (edges clamped), in the dtype of ``x``."""
    h, w = x.shape[1], x.shape[2]
    return keras.ops.cast(keras.ops.image.resize(x, (2 * h, 2 * w), interpolation="bilinear"), x.dtype)


UPSAMPLING = {"nearest": upsample, "bilinear": upsample_bilinear}


def downsample(x):
    """2x2 average pooling of [N, H, W, C]."""
    return keras.ops.average_pool(x, 2, 2, "valid")


def lerp(low, high, alpha):
    """(1 - alpha) * low + alpha * high with per-example alpha [N]; exact at alpha 0 and 1."""
    a = keras.ops.cast(keras.ops.reshape(alpha, (-1, 1, 1, 1)), low.dtype)
    return (1 - a) * low + a * high


def leaky(x):
    return keras.ops.leaky_relu(x, 0.2)


@keras.saving.register_keras_serializable(package="mri_gan")
class EqualDense(keras.layers.Layer):
    """Dense layer with equalised learning rate: N(0, 1) weights times gain / sqrt(fan_in)."""

    def __init__(self, units: int, gain: float = _SQRT2, **kwargs):
        super().__init__(**kwargs)
        self.units, self.gain = units, gain

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.scale = self.gain / math.sqrt(fan_in)
        self.kernel = self.add_weight(name="kernel", shape=(fan_in, self.units),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x):
        return keras.ops.matmul(x, self.kernel * self.scale) + self.bias

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gain": self.gain}


@keras.saving.register_keras_serializable(package="mri_gan")
class EqualConv2D(keras.layers.Layer):
    """Stride-1 'same' convolution with equalised learning rate."""

    def __init__(self, filters: int, kernel_size: int = 3, gain: float = _SQRT2, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.gain = filters, kernel_size, gain

    def build(self, input_shape):
        fan_in = int(input_shape[-1]) * self.kernel_size ** 2
        self.scale = self.gain / math.sqrt(fan_in)
        k = self.kernel_size
        self.kernel = self.add_weight(name="kernel", shape=(k, k, int(input_shape[-1]), self.filters),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x):
        return keras.ops.conv(x, self.kernel * self.scale, 1, "same") + self.bias

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "gain": self.gain}


@keras.saving.register_keras_serializable(package="mri_gan")
class PGGANGenerator(keras.Model):
    """z [N, z_dim] (and labels [N]) -> images [N, r, r, channels], r = start_size * 2**level.

    Linear output (no tanh, as in Karras et al.); ``PGGAN.generate`` clips to [-1, 1]."""

    def __init__(self, image_size=128, start_size=4, channels=1, z_dim=512, fmap_base=8192,
                 fmap_max=512, num_classes=0, fmap_min=1, upsampling="nearest", **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.start_size, self.channels, self.z_dim = image_size, start_size, channels, z_dim
        self.fmap_base, self.fmap_max, self.fmap_min, self.num_classes = fmap_base, fmap_max, fmap_min, num_classes
        self.upsampling = upsampling
        w = widths(image_size, start_size, fmap_base, fmap_max, fmap_min)
        self.levels = len(w)
        self.embed = (keras.layers.Embedding(num_classes, z_dim, embeddings_initializer=
                                             keras.initializers.RandomNormal(0.0, 1.0))
                      if num_classes else None)
        self.project = EqualDense(start_size * start_size * w[0], gain=_SQRT2 / start_size)
        self.start_conv = EqualConv2D(w[0], 3)
        self.blocks = [[EqualConv2D(width, 3), EqualConv2D(width, 3)] for width in w[1:]]
        self.to_rgb = [EqualConv2D(channels, 1, gain=1.0, dtype="float32") for _ in w]

    def build(self, z_shape):
        """Create every block's weights, whatever the level of the first call."""
        labels = keras.ops.zeros((1,), "int32") if self.num_classes else None
        for level in range(self.levels):
            self.call(keras.ops.zeros((1, self.z_dim)), labels, level, keras.ops.ones((1,)))

    def call(self, z, labels=None, level=None, alpha=None, training=None):
        level = self.levels - 1 if level is None else level
        x = pixel_norm(z)
        if self.embed is not None:
            x = pixel_norm(keras.ops.concatenate([x, keras.ops.cast(self.embed(labels), x.dtype)], -1))
        s = self.start_size
        x = pixel_norm(leaky(keras.ops.reshape(self.project(x), (-1, s, s, self.project.units // s // s))))
        x = pixel_norm(leaky(self.start_conv(x)))
        previous = x
        for block in self.blocks[:level]:
            previous, x = x, UPSAMPLING[self.upsampling](x)
            for conv in block:
                x = pixel_norm(leaky(conv(x)))
        image = self.to_rgb[level](x)
        if alpha is not None and level > 0:
            image = lerp(upsample(self.to_rgb[level - 1](previous)), image, alpha)
        return image

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "start_size": self.start_size,
                "channels": self.channels, "z_dim": self.z_dim, "fmap_base": self.fmap_base,
                "fmap_max": self.fmap_max, "fmap_min": self.fmap_min, "num_classes": self.num_classes,
                "upsampling": self.upsampling}


@keras.saving.register_keras_serializable(package="mri_gan")
class PGGANDiscriminator(keras.Model):
    """images [N, r, r, channels] (and labels) -> one score per image [N, 1] at ``level``."""

    def __init__(self, image_size=128, start_size=4, channels=1, fmap_base=8192, fmap_max=512,
                 num_classes=0, fmap_min=1, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.start_size, self.channels = image_size, start_size, channels
        self.fmap_base, self.fmap_max, self.fmap_min, self.num_classes = fmap_base, fmap_max, fmap_min, num_classes
        w = widths(image_size, start_size, fmap_base, fmap_max, fmap_min)
        self.levels = len(w)
        self.from_rgb = [EqualConv2D(width, 1) for width in w]
        # blocks[k - 1] takes level k (w[k] features) down to level k - 1 (w[k - 1] features)
        self.blocks = [[EqualConv2D(w[k], 3), EqualConv2D(w[k - 1], 3)] for k in range(1, len(w))]
        hidden = min(fmap_base, fmap_max)
        self.final_conv = EqualConv2D(w[0], 3)
        self.final_dense = EqualDense(hidden)
        self.score = EqualDense(1, gain=1.0, dtype="float32")
        self.embed = (keras.layers.Embedding(num_classes, hidden, embeddings_initializer=
                                             keras.initializers.RandomNormal(0.0, 1.0), dtype="float32")
                      if num_classes else None)

    def _down(self, level: int, x):
        for conv in self.blocks[level - 1]:
            x = leaky(conv(x))
        return downsample(x)

    def build(self, images_shape):
        """Create every block's weights, whatever the level of the first call."""
        labels = keras.ops.zeros((1,), "int32") if self.num_classes else None
        for level in range(self.levels):
            r = self.start_size * 2 ** level
            self.call(keras.ops.zeros((1, r, r, self.channels)), labels, level, keras.ops.ones((1,)))

    def call(self, images, labels=None, level=None, alpha=None, training=None):
        level = self.levels - 1 if level is None else level
        x = leaky(self.from_rgb[level](images))
        if level > 0:
            x = self._down(level, x)
            if alpha is not None:
                x = lerp(leaky(self.from_rgb[level - 1](downsample(images))), x, alpha)
            for k in range(level - 1, 0, -1):
                x = self._down(k, x)
        x = leaky(self.final_conv(minibatch_stddev(x)))
        h = leaky(self.final_dense(keras.ops.reshape(x, (-1, x.shape[1] * x.shape[2] * x.shape[3]))))
        score = self.score(h)
        if self.embed is not None:
            h32 = keras.ops.cast(h, "float32")
            projection = keras.ops.sum(self.embed(labels) * h32, -1, keepdims=True)
            score = score + projection / math.sqrt(h.shape[-1])
        return score

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "start_size": self.start_size,
                "channels": self.channels, "fmap_base": self.fmap_base, "fmap_max": self.fmap_max,
                "fmap_min": self.fmap_min, "num_classes": self.num_classes}
