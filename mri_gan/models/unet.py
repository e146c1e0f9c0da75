"""The Pix2Pix generator: a UNet (``depth`` encoder units of 4x4 convolution stride 2, batch norm
except on the first and the innermost unit, LeakyReLU 0.2; a decoder of 4x4 transposed
convolutions stride 2, batch norm, dropout 0.5 on the three innermost units as the noise source,
ReLU, with skip connections, optionally through additive attention gates (Oktay et al. 2018, the
paper's "attention UNet"); a tanh output).

``norm="instance"`` replaces its batch norms by per-image instance norms, which behave the same
in training and inference. ``input_skip`` adds a 3x3 convolution of the input (zero at start) to
the output's pre-activation: a full-resolution path (the UNet's finest skip is at half
resolution), so shared anatomy need not be relearned. ``upsampling="resize"`` replaces every
transposed convolution by a bilinear x2 resize and a 3x3 convolution (no checkerboard texture).
``residual`` adds to an output channel a given input channel (the network then learns the change
from it, and starts as the copy: its last layer is zero at start). ``linear_base`` adds instead,
to every output, a least-squares linear map of the given inputs fitted on the training split
(:class:`LinearBase`, one map per output and set of given inputs): the network starts as the
multi-input regression baseline and learns the change from it. ``context_channels``: that many
last inputs (a 2.5-D model's neighbouring slices) reach the network only, not the base or residual.
"""

from __future__ import annotations

import keras
import numpy as np

from mri_gan.models.layers import batch_norm, leaky
from mri_gan.models.pix2pix_config import NORMS, UPSAMPLINGS

#: decoder units (innermost first) that apply dropout, as in pix2pix
DROPOUT_UNITS = 3


def upsampler(width: int, kind: str, use_bias: bool) -> keras.layers.Layer:
    """x2 upsampling to ``width`` channels: a 4x4 transposed convolution stride 2 (pix2pix), or a
    bilinear resize then a 3x3 convolution, which leaves no checkerboard texture (Odena et al. 2016)."""
    if kind == "resize":
        return keras.Sequential([keras.layers.UpSampling2D(2, interpolation="bilinear"),
                                 keras.layers.Conv2D(width, 3, padding="same", use_bias=use_bias)])
    return keras.layers.Conv2DTranspose(width, 4, 2, "same", use_bias=use_bias)


def normalization(kind: str) -> keras.layers.Layer:
    """Batch norm (synchronised across replicas), or instance norm (per image and channel, the
    same in training and inference)."""
    if kind == "instance":
        return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5)
    return batch_norm()


def unet_widths(depth: int, filters: int) -> list[int]:
    """Encoder widths, outermost first: filters * 2^i capped at 8 * filters."""
    return [filters * min(2 ** i, 8) for i in range(depth)]


@keras.saving.register_keras_serializable(package="mri_gan")
class AttentionGate(keras.layers.Layer):
    """Additive attention on a skip: skip * sigmoid(psi(relu(Wx skip + Wg gate))), one weight per pixel."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.w_skip = keras.layers.Conv2D(channels, 1, use_bias=False)
        self.w_gate = keras.layers.Conv2D(channels, 1)
        self.psi = keras.layers.Conv2D(1, 1, activation="sigmoid")

    def build(self, skip_shape, gate_shape):
        """Create the three convolutions' weights (also when restored from a config)."""
        self.w_skip.build(skip_shape)
        self.w_gate.build(gate_shape)
        self.psi.build((*skip_shape[:-1], self.channels))

    def call(self, skip, gate):
        weights = self.psi(keras.ops.relu(self.w_skip(skip) + self.w_gate(gate)))
        return skip * weights

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="mri_gan")
class LinearBase(keras.layers.Layer):
    """Per output, a linear map of the first ``images`` input channels plus an intercept, chosen by
    which of them are given: the inputs after the images are one availability plane per image
    (imputation: 2^images maps, indexed by the flags as bits), or there are none (translation:
    one map). ``table`` [maps, outputs, images + 1] is a weight set by :meth:`Pix2Pix.initialise`
    (not trained; saved with the generator). It computes in float32 whatever the dtype policy."""

    def __init__(self, images: int, outputs: int, flagged: bool, **kwargs):
        super().__init__(**{**kwargs, "dtype": "float32"})
        self.images, self.outputs, self.flagged = images, outputs, flagged
        self.table = self.add_weight(shape=(2 ** images if flagged else 1, outputs, images + 1),
                                     initializer="zeros", trainable=False, dtype="float32", name="table")

    def call(self, inputs):
        x = keras.ops.cast(inputs, "float32")
        if self.flagged:
            bits = keras.ops.cast(keras.ops.round(x[:, 0, 0, self.images:2 * self.images]), "int32")
            index = keras.ops.sum(bits * (2 ** keras.ops.arange(self.images, dtype="int32")), axis=-1)
        else:
            index = keras.ops.zeros([keras.ops.shape(x)[0]], "int32")
        maps = keras.ops.take(self.table, index, axis=0)           # [N, outputs, images + 1]
        return (keras.ops.einsum("nhwc,noc->nhwo", x[..., :self.images], maps[..., :-1])
                + maps[:, None, None, :, -1])

    def get_config(self):
        return {**super().get_config(), "images": self.images, "outputs": self.outputs, "flagged": self.flagged}


def fit_linear_maps(images: np.ndarray, available: np.ndarray, mask: np.ndarray, inputs: list[int],
                    outputs: list[int], flagged: bool) -> np.ndarray:
    """The :class:`LinearBase` table: per set of given inputs (every subset when ``flagged``, else
    all of ``inputs``) and output, least squares of the output on the given inputs and an intercept
    over ``mask`` pixels of the slices that have them all (an output that is itself given is copied;
    one no slice can fit is 0). ``images`` [N, H, W, C] with channel indices ``inputs``, ``outputs``."""
    table = np.zeros((2 ** len(inputs) if flagged else 1, len(outputs), len(inputs) + 1), np.float32)
    channels = sorted(set(inputs) | set(outputs))
    grams: dict[tuple, np.ndarray] = {}
    for have in {tuple(a) for a in available}:                  # Gram of [channels, 1] per availability
        rows = (available == have).all(axis=1)
        z = images[rows][mask[rows]][:, channels].astype(np.float64)
        z = np.concatenate([z, np.ones((len(z), 1))], axis=1)
        grams[have] = z.T @ z
    for p in range(len(table)):
        given = [i for k, i in enumerate(inputs) if p >> k & 1] if flagged else list(inputs)
        for o, out in enumerate(outputs):
            if out in given:
                table[p, o, inputs.index(out)] = 1.0
                continue
            fitting = [g for have, g in grams.items() if all(have[c] for c in given + [out])]
            if not fitting:
                continue
            gram = sum(fitting)
            cols = [channels.index(c) for c in given] + [len(channels)]
            solution = np.linalg.lstsq(gram[np.ix_(cols, cols)], gram[cols, channels.index(out)], rcond=None)[0]
            table[p, o, [inputs.index(c) for c in given] + [len(inputs)]] = solution
    return table


@keras.saving.register_keras_serializable(package="mri_gan")
class UNetGenerator(keras.Model):
    """[N, S, S, in_channels] -> [N, S, S, out_channels] in [-1, 1]."""

    def __init__(self, image_size=128, in_channels=1, out_channels=1, depth=7, filters=64,
                 attention=False, dropout=0.5, norm="batch", input_skip=False, upsampling="transposed",
                 residual=None, linear_base=0, context_channels=0, **kwargs):
        super().__init__(**kwargs)
        if image_size % 2 ** depth or depth < 2:
            raise ValueError(f"depth {depth} does not divide image_size {image_size} into whole pixels")
        if norm not in NORMS:
            raise ValueError(f"norm {norm!r} is not one of {NORMS}")
        if upsampling not in UPSAMPLINGS:
            raise ValueError(f"upsampling {upsampling!r} is not one of {UPSAMPLINGS}")
        self.norm, self.input_skip, self.upsampling = norm, input_skip, upsampling
        #: per output channel, (input channel added to it, input channel gating it or -1), or None
        self.residual = [list(r) if r is not None else None for r in residual] if residual else None
        if self.residual is not None and len(self.residual) != out_channels:
            raise ValueError(f"residual names {len(self.residual)} channels for {out_channels} outputs")
        own = in_channels - context_channels       # the inputs of the slice itself
        if linear_base and (self.residual is not None or own not in (linear_base, 2 * linear_base)):
            raise ValueError(f"linear_base={linear_base} needs no residual and {linear_base} image inputs, "
                             f"with or without as many availability planes (got {own} inputs)")
        #: image inputs the linear base reads (0: none; more inputs are their availability planes)
        self.linear_base = linear_base
        self.context_channels = context_channels
        self.base = (LinearBase(linear_base, out_channels, own > linear_base, dtype="float32")
                     if linear_base else None)
        self.image_size, self.in_channels, self.out_channels = image_size, in_channels, out_channels
        self.depth, self.filters, self.attention, self.dropout = depth, filters, attention, dropout
        widths = unet_widths(depth, filters)
        self.down = []
        for i, width in enumerate(widths):
            norm = normalization(self.norm) if 0 < i < depth - 1 else None
            self.down.append([keras.layers.Conv2D(width, 4, 2, "same", use_bias=norm is None),
                              norm, leaky()])
        self.up = []
        for k, width in enumerate(reversed(widths[:-1])):   # innermost first, to the skip's width
            drop = keras.layers.Dropout(dropout) if dropout and k < DROPOUT_UNITS else None
            gate = AttentionGate(max(width // 2, 1)) if attention else None
            self.up.append([upsampler(width, upsampling, False),
                            normalization(self.norm), drop, keras.layers.ReLU(), gate])
        self.to_image = upsampler(out_channels, upsampling, True)
        if self.residual is not None or self.base is not None:   # start as copy / base: last layer 0
            last = self.to_image.layers[-1] if isinstance(self.to_image, keras.Sequential) else self.to_image
            last.kernel_initializer = keras.initializers.Zeros()
        self.from_input = (keras.layers.Conv2D(out_channels, 3, padding="same", use_bias=False,
                                              kernel_initializer="zeros") if input_skip else None)
        self.out_act = keras.layers.Activation("tanh", dtype="float32")

    def call(self, x, training=None, sample=False):
        """``sample``: dropout active outside training too (Monte Carlo dropout), norms as at inference."""
        inputs, skips = x, []
        for conv, norm, act in self.down:
            x = conv(x)
            if norm is not None:
                x = norm(x, training=training)
            x = act(x)
            skips.append(x)
        for (conv, norm, drop, act, gate), skip in zip(self.up, reversed(skips[:-1])):
            x = norm(conv(x), training=training)
            if drop is not None:
                x = drop(x, training=training or sample)
            x = act(x)
            if gate is not None:
                skip = gate(skip, x)
            x = keras.ops.concatenate([x, skip], axis=-1)
        x = self.to_image(x)
        if self.from_input is not None:
            x = x + self.from_input(inputs)
        x = self.out_act(x)
        if self.base is not None:
            return keras.ops.clip(x + self.base(inputs), -1.0, 1.0)
        if self.residual is None:
            return x
        inputs = keras.ops.cast(inputs, "float32")
        copies = []
        for c, pair in enumerate(self.residual):
            if pair is None:
                copies.append(keras.ops.zeros_like(x[..., c]))
            else:
                source, gate = pair
                copies.append(inputs[..., source] * (inputs[..., gate] if gate >= 0 else 1.0))
        return keras.ops.clip(x + keras.ops.stack(copies, axis=-1), -1.0, 1.0)

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "in_channels": self.in_channels,
                "out_channels": self.out_channels, "depth": self.depth, "filters": self.filters,
                "attention": self.attention, "dropout": self.dropout, "norm": self.norm,
                "input_skip": self.input_skip, "upsampling": self.upsampling, "residual": self.residual,
                "linear_base": self.linear_base, "context_channels": self.context_channels}
