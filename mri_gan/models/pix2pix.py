"""Pix2Pix (paper section 3.2): missing-sequence synthesis and one-model imputation.

G: a UNet. ``depth`` encoder units (4x4 convolution stride 2, batch norm except on the first
and the innermost unit, LeakyReLU 0.2), a decoder of 4x4 transposed convolutions stride 2
(batch norm, dropout 0.5 on the three innermost units as the noise source, ReLU) with skip
connections, optionally through additive attention gates (Oktay et al. 2018, the paper's
"attention UNet"), and a tanh output. ``norm="instance"`` replaces its batch norms by
per-image instance norms, which behave the same in training and inference. ``input_skip``
adds a 3x3 convolution of the input (zero at start) to the output's pre-activation: a
full-resolution path (the UNet's finest skip is at half resolution), so shared anatomy need
not be relearned. ``upsampling="resize"`` replaces every transposed convolution by a bilinear x2
resize and a 3x3 convolution (no checkerboard texture). ``residual`` adds, to an output with a
partner sequence (``PARTNERS``: T1 and T1ce) among the given inputs, that input: the network
then learns the change from it, and starts as the copy (its last layer is zero at start).
``linear_base`` adds instead, to every output, a least-squares linear map of the given inputs
fitted on the training split (:class:`LinearBase`, one map per output and set of given inputs):
the network starts as the multi-input regression baseline and learns the change from it.
D: a PatchGAN on (condition, target or synthesized) pairs: ``patch_layers`` 4x4 convolutions
stride 2 (widths doubling from ``filters`` up to 8x, no batch norm on the first), one stride-1
convolution and a one-channel stride-1 convolution of logits; ``patch_layers=3`` sees 70x70
input pixels per logit; it scores real and synthesized pairs in one batch, so its batch norms
see both. Loss: sigmoid cross-entropy weighted by ``adv_lambda`` (0: D is not run, G is trained
on its supervised terms alone); G adds ``l1_lambda`` * L1 and ``ssim_lambda`` * (1 - SSIM).
``lesion_weight`` weighs L1 by 1 + lesion_weight inside tumour masks (where the data has them):
lesions cover a few per cent of the brain, and an unweighted L1 lets G paint them the grey of
the tissue around them.

Two tasks share one step:

- translation (``--source`` one or several sequences stacked as channels, ``--target`` one);
- imputation (``--target any``): the input is the four sequences with the missing ones zeroed
  plus four availability planes, the output is the four sequences. Each training example hides
  1-3 of the sequences it has (as many as leave at least one; the count drawn with the relative
  ``hide_weights``) drawn from the step's random numbers; the L1 term and the synthesized part of D's fake
  input cover the hidden channels only (the given ones are passed through). At inference it
  fills whichever sequences are missing.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from mri_gan import losses
from mri_gan.config import TrainConfig
from mri_gan.data.records import SEQUENCES, canonical_sequence
from mri_gan.data.slice_set import SliceSet
from mri_gan.errors import UserError
from mri_gan.models.layers import batch_norm, leaky
from mri_gan.models.task import GANTask, tile

ANY = "any"
#: decoder units (innermost first) that apply dropout, as in pix2pix
DROPOUT_UNITS = 3
#: images per call when translating many slices
INFER_BATCH = 32
#: validation figures (``val_<name>``) from a ``paired_metrics`` result, None where undefined
VALIDATION_FIGURES = {
    "ssim": lambda r: r["ssim"]["mean"], "psnr": lambda r: r["psnr"]["mean"], "mae": lambda r: r["mae"]["mean"],
    "tumour_ssim": lambda r: r["tumour"]["ssim"]["mean"] if "tumour" in r else None,
    "lesion_contrast": lambda r: r["lesion_contrast"]["mean"] if "lesion_contrast" in r else None,
}


#: the input a synthesized sequence is predicted as a residual of (``residual=true``): T1 and T1ce
#: share their weighting, the contrast agent changing enhancing tissue and vessels only; T2 and
#: FLAIR differ in CSF (bright / dark), so they are predicted whole
PARTNERS = {"t1": "t1ce", "t1ce": "t1"}

#: what ``select=margin`` counts a margin over a baseline in: a difference worth having
MARGIN_UNITS = {"ssim": 0.02, "psnr": 0.5}
SELECTIONS = ("ssim", "margin")

NORMS = ("batch", "instance")
UPSAMPLINGS = ("transposed", "resize")


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
    (not trained; saved with the generator)."""

    def __init__(self, images: int, outputs: int, flagged: bool, **kwargs):
        super().__init__(**kwargs)
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
                 residual=None, linear_base=0, **kwargs):
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
        if linear_base and (self.residual is not None or in_channels not in (linear_base, 2 * linear_base)):
            raise ValueError(f"linear_base={linear_base} needs no residual and {linear_base} image inputs, "
                             f"with or without as many availability planes (got {in_channels} inputs)")
        #: image inputs the linear base reads (0: none; more inputs are their availability planes)
        self.linear_base = linear_base
        self.base = (LinearBase(linear_base, out_channels, in_channels > linear_base, dtype="float32")
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
                "linear_base": self.linear_base}


def patch_receptive_field(patch_layers: int) -> int:
    """Input pixels (per side) seen by one PatchGAN logit: 4x4 kernels, strides 2 x n, 1, 1."""
    strides = [2] * patch_layers + [1, 1]
    field, jump = 1, 1
    for s in strides:
        field += 3 * jump
        jump *= s
    return field


@keras.saving.register_keras_serializable(package="mri_gan")
class PatchDiscriminator(keras.Model):
    """(condition [N, S, S, Cc], image [N, S, S, Ci]) -> patch logits [N, S / 2^n, S / 2^n, 1]."""

    def __init__(self, in_channels=2, filters=64, patch_layers=3, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.filters, self.patch_layers = in_channels, filters, patch_layers
        self.blocks = []
        for i in range(patch_layers + 1):
            stride = 2 if i < patch_layers else 1
            norm = batch_norm() if i else None
            self.blocks.append([keras.layers.Conv2D(filters * min(2 ** i, 8), 4, stride, "same",
                                                    use_bias=norm is None), norm, leaky()])
        self.logits = keras.layers.Conv2D(1, 4, 1, "same", dtype="float32")

    def call(self, condition, image, training=None):
        x = keras.ops.concatenate([condition, keras.ops.cast(image, condition.dtype)], axis=-1)
        for conv, norm, act in self.blocks:
            x = conv(x)
            if norm is not None:
                x = norm(x, training=training)
            x = act(x)
        return self.logits(x)

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels, "filters": self.filters,
                "patch_layers": self.patch_layers}


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
    """[N, H, W, 4] images and [N, 4] given flags -> [N, H, W, 8]: given images (others 0) and flags."""
    images = tf.convert_to_tensor(images, tf.float32)
    g = tf.cast(given, tf.float32)[:, None, None, :]
    return tf.concat([images * g, tf.broadcast_to(g, tf.shape(images))], axis=-1)


class Pix2Pix(GANTask):
    """Pix2Pix translation (``cfg.target`` one sequence) or imputation (``cfg.target == "any"``)."""

    LOGS = ("d_loss", "g_loss", "g_adv", "g_l1", "g_l2", "g_ssim", "d_acc_real", "d_acc_fake")

    def __init__(self, cfg: TrainConfig, meta: dict):
        super().__init__(cfg, meta)
        self.imputation = str(cfg.target).lower() == ANY
        if self.imputation:
            self.sources, self.target = list(SEQUENCES), ANY
        else:
            self.target = canonical_sequence(cfg.target, "--target")
            self.sources = [canonical_sequence(s, "--source") for s in cfg.source]
            if not self.sources:
                raise UserError("--source", "give at least one source sequence")
            if len(set(self.sources)) != len(self.sources):
                raise UserError("--source", "a sequence is given twice")
            if self.target in self.sources:
                raise UserError("--target", f"{self.target} is also a source")
        if cfg.image_size % 2 ** cfg.unet_depth:
            raise UserError("--set", f"unet_depth={cfg.unet_depth} is too deep for image_size="
                                     f"{cfg.image_size} (needs image_size / 2^depth >= 1)")
        if cfg.unet_norm not in NORMS:
            raise UserError("--set", f"unet_norm={cfg.unet_norm!r} (known: {', '.join(NORMS)})")
        if cfg.unet_upsampling not in UPSAMPLINGS:
            raise UserError("--set", f"unet_upsampling={cfg.unet_upsampling!r} "
                                     f"(known: {', '.join(UPSAMPLINGS)})")
        if cfg.image_size % 2 ** cfg.patch_layers:
            raise UserError("--set", f"patch_layers={cfg.patch_layers} is too deep for image_size="
                                     f"{cfg.image_size}")
        if cfg.select not in SELECTIONS:
            raise UserError("--set", f"select={cfg.select!r} (known: {', '.join(SELECTIONS)})")
        #: checkpoints/best: the best mean SSIM, or (``select=margin``) the best worst margin over
        #: the baselines of any target and metric, in units of ``MARGIN_UNITS``
        self.SELECT = "val_min_margin" if cfg.select == "margin" else "val_ssim"
        self._val_data: SliceSet | None = None
        self._val_baselines: dict[str, dict[str, float]] = {}
        self._predict = None

    def residual_spec(self) -> list | None:
        """Per output channel (input channel added, availability plane gating it or -1) or None
        (``PARTNERS``); None without ``cfg.residual`` or where no output has its partner as input
        (a target without one is predicted whole)."""
        if not self.cfg.residual:
            return None
        if self.imputation:
            n = len(SEQUENCES)
            return [(SEQUENCES.index(PARTNERS[s]), n + SEQUENCES.index(PARTNERS[s])) if s in PARTNERS else None
                    for s in SEQUENCES]
        partner = PARTNERS.get(self.target)
        return [(self.sources.index(partner), -1)] if partner in self.sources else None

    @property
    def base_inputs(self) -> int:
        """Image inputs of the generator's linear base (``cfg.linear_base``), else 0."""
        return (len(SEQUENCES) if self.imputation else len(self.sources)) if self.cfg.linear_base else 0

    def initialise(self, train: SliceSet) -> None:
        """Fit the linear base's maps on the training slices (``cfg.linear_base``)."""
        if not self.cfg.linear_base:
            return
        if self.imputation:
            inputs = outputs = list(range(len(SEQUENCES)))
        else:
            inputs = [SEQUENCES.index(s) for s in self.sources]
            outputs = [SEQUENCES.index(self.target)]
        table = fit_linear_maps(train.images, train.available, train.brain_mask, inputs, outputs, self.imputation)
        self.generator.base.table.assign(table)

    @property
    def in_channels(self) -> int:
        return 2 * len(SEQUENCES) if self.imputation else len(self.sources)

    @property
    def out_channels(self) -> int:
        return len(SEQUENCES) if self.imputation else 1

    # -- building --------------------------------------------------------------------------
    def build(self) -> None:
        cfg = self.cfg
        self.generator = UNetGenerator(cfg.image_size, self.in_channels, self.out_channels,
                                       cfg.unet_depth, cfg.unet_filters, cfg.attention, cfg.dropout,
                                       cfg.unet_norm, cfg.unet_input_skip, cfg.unet_upsampling,
                                       self.residual_spec(), self.base_inputs, name="generator")
        self.discriminator = PatchDiscriminator(self.in_channels + self.out_channels, cfg.d_filters,
                                                cfg.patch_layers, name="discriminator")
        s = cfg.image_size
        cond = tf.zeros([1, s, s, self.in_channels])
        self.discriminator(cond, self.generator(cond))
        self._build_optimizers()
        G = self.generator
        spec = [tf.TensorSpec([None, s, s, self.in_channels])]
        self._predict = tf.function(lambda x: G(x, training=False), input_signature=spec)
        self._sample = tf.function(lambda x: G(x, training=False, sample=True), input_signature=spec)

    # -- data ------------------------------------------------------------------------------
    def batch_spec(self, step: int = 0) -> dict:
        s = self.cfg.image_size
        return {"cond": tf.TensorSpec([None, s, s, self.in_channels], tf.float32),
                "target": tf.TensorSpec([None, s, s, self.out_channels], tf.float32),
                "weight": tf.TensorSpec([None, self.out_channels], tf.float32),
                "lesion": tf.TensorSpec([None, s, s, 1], tf.float32)}

    def train_filter(self, data: SliceSet) -> np.ndarray:
        if self.imputation:
            return data.available.sum(axis=1) >= 2
        return data.has(self.sources + [self.target])

    def source(self, data: SliceSet) -> dict[str, np.ndarray]:
        return {"images": data.images, "available": data.available, "lesion": data.tumor_mask}

    def draw(self, seed, step, n: int, segment: int = 0) -> dict:
        geometry, count, order = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
        draws = self.geometry_draws(geometry, n)
        if self.imputation:
            draws["hide_count"] = tf.random.stateless_uniform([n], count)
            draws["hide_order"] = tf.random.stateless_uniform([n, len(SEQUENCES)], order)
        return draws

    def assemble(self, source, index, draws, segment: int = 0) -> dict:
        images = tf.gather(source["images"], index)
        lesion = tf.cast(tf.gather(source["lesion"], index), tf.float32)[..., None]
        if self.imputation:
            images, lesion = self.transformed(draws, images, lesion)
            available = tf.gather(source["available"], index)
            hidden = hidden_sequences(available, draws["hide_count"], draws["hide_order"], self.cfg.hide_weights)
            return {"cond": imputation_input(images, available & ~hidden), "target": images,
                    "weight": tf.cast(hidden, tf.float32), "lesion": lesion}
        pair = tf.gather(images, [SEQUENCES.index(s) for s in self.sources + [self.target]], axis=3)
        pair, lesion = self.transformed(draws, pair, lesion)
        return {"cond": pair[..., :-1], "target": pair[..., -1:], "weight": tf.ones([tf.shape(index)[0], 1]),
                "lesion": lesion}

    # -- the step --------------------------------------------------------------------------
    def losses(self, batch: dict, out: tf.Tensor, global_batch: int) -> dict:
        """D and G losses (contributions to global means) for generator output ``out``.

        D's fake input keeps the given channels of the target and takes ``out`` where the
        weight is 1, so neither term reaches ``out`` on given channels. With ``adv_lambda = 0``
        D is not run and its figures are 0."""
        cond, target = batch["cond"], batch["target"]
        weight = batch["weight"][:, None, None, :]
        average = lambda per: tf.nn.compute_average_loss(per, global_batch_size=global_batch)  # noqa: E731
        g_l1 = average(losses.l1(out, target, weight * (1.0 + self.cfg.lesion_weight * batch["lesion"])))
        g_l2 = average(losses.l2(out, target, weight))
        g_ssim = average(losses.ssim_loss(out, target, batch["weight"]))
        logs = {"g_l1": g_l1, "g_l2": g_l2, "g_ssim": g_ssim,
                "g_loss": self.cfg.l1_lambda * g_l1 + self.cfg.l2_lambda * g_l2 + self.cfg.ssim_lambda * g_ssim}
        if not self.adversarial:
            zero = tf.zeros([])
            return {"d_loss": zero, "g_adv": zero, "d_acc_real": zero, "d_acc_fake": zero, **logs}
        fake = target * (1.0 - weight) + out * weight
        logits = self.discriminator(tf.concat([cond, cond], 0), tf.concat([target, fake], 0), training=True)
        real_logits, fake_logits = tf.split(logits, 2)
        g_adv = average(losses.generator_bce(fake_logits))
        logs["g_loss"] += self.cfg.adv_lambda * g_adv
        return {"d_loss": average(losses.discriminator_bce(real_logits, fake_logits)), "g_adv": g_adv,
                "d_acc_real": average(losses.accuracy_from_logits(real_logits, True)),
                "d_acc_fake": average(losses.accuracy_from_logits(fake_logits, False)), **logs}

    @property
    def adversarial(self) -> bool:
        return self.cfg.adv_lambda > 0

    def replica_step(self, batch: dict, global_batch: int) -> dict:
        """G runs once; D and G are updated together from the same forward pass (D's gradient
        from its loss on real and fake pairs, G's through D's weights before the update)."""
        G, D = self.generator, self.discriminator
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            logs = self.losses(batch, G(batch["cond"], training=True), global_batch)
        if self.adversarial:
            self._apply(self.d_opt, d_tape, logs["d_loss"], D.trainable_variables)
        self._apply(self.g_opt, g_tape, logs["g_loss"], G.trainable_variables)
        return logs

    # -- inference -------------------------------------------------------------------------
    @property
    def samples_dropout(self) -> bool:
        """Whether :meth:`translate` can draw dropout samples (the generator has dropout)."""
        return bool(self.cfg.dropout)

    def translate(self, images: np.ndarray, available, target: str, sample: bool = False) -> np.ndarray:
        """Synthesize ``target`` for slices [N, S, S, 4] in [-1, 1] (SEQUENCES order, zeros where
        missing) given ``available`` ([4] or [N, 4] bool): [N, S, S] in [-1, 1]; ``sample``: one
        draw with the generator's dropout on (for uncertainty), else its prediction.

        Translation needs its source sequences; imputation uses every available one but the target."""
        from mri_gan.translate_checks import check_translate

        x = check_translate(self, images, available, target)
        if self.imputation:
            cond, channel = imputation_input(x.images, x.given), x.target
        else:
            cond, channel = x.images[..., x.channels], 0
        predict = self._sample if sample else self._predict
        out = [predict(tf.constant(cond[i:i + INFER_BATCH])).numpy()[..., channel]
               for i in range(0, len(cond), INFER_BATCH)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(x.images.shape[:3], np.float32)

    def _pairs(self, data: SliceSet):
        """(target sequence, slice rows) of every validation question the data can answer:
        the target where the sources exist (translation), or each available sequence in turn
        with at least one other (imputation, leave-one-out)."""
        if not self.imputation:
            rows = np.flatnonzero(data.has(self.sources + [self.target]))
            return [(self.target, rows)] if len(rows) else []
        enough = data.available.sum(axis=1) >= 2
        pairs = []
        for c, seq in enumerate(SEQUENCES):
            rows = np.flatnonzero(data.available[:, c] & enough)
            if len(rows):
                pairs.append((seq, rows))
        return pairs

    def validate(self, data: SliceSet) -> dict:
        """SSIM, PSNR and MAE inside the brain mask, per subject then over subjects, and SSIM
        inside the tumour and the lesion contrast where the data has tumour masks; for
        imputation the mean over leave-one-out targets, plus each target's figures."""
        from mri_gan.evaluation.metrics import paired_metrics

        self._val_data = data
        per_target = {}
        for seq, rows in self._pairs(data):
            sub = data.subset(rows)
            pred = self.translate(sub.images, sub.available, seq)
            per_target[seq] = paired_metrics(pred, sub.channels([seq])[..., 0], sub.brain_mask,
                                             sub.subjects, lesion=sub.tumor_mask)
        if not per_target:
            return {}
        figures = {name: [value(r) for r in per_target.values() if value(r) is not None]
                   for name, value in VALIDATION_FIGURES.items()}
        out = {f"val_{name}": round(float(np.mean(v)), 5) for name, v in figures.items() if v}
        if self.imputation:
            for seq, r in per_target.items():
                out.update({f"val_{name}_{seq}": round(value(r), 5) for name, value in VALIDATION_FIGURES.items()
                            if value(r) is not None})
        margins = []
        for seq, best in self._val_baselines.items():
            if seq in per_target:
                for metric, value in best.items():
                    margin = per_target[seq][metric]["mean"] - value
                    out[f"val_margin_{metric}_{seq}"] = round(margin, 5)
                    margins.append(margin / MARGIN_UNITS[metric])
        if margins:
            out["val_below_baseline"] = int(sum(m < 0 for m in margins))
            out["val_min_margin"] = round(min(margins), 5)
        return out

    def fit_references(self, train: SliceSet, val: SliceSet) -> None:
        """The best baseline SSIM and PSNR per validation target (identity and linear map of each
        other sequence, their multi-input regression; fitted on ``train``): ``validate`` logs the
        model's margin over them (``val_margin_ssim_<target>``) and how many are negative."""
        from mri_gan.evaluation.baselines import baseline_predictions
        from mri_gan.evaluation.metrics import paired_metrics

        self._val_baselines = {}
        train_rows = dict(self._pairs(train))
        for seq, rows in self._pairs(val):
            if seq not in train_rows:
                continue
            fit, sub = train.subset(train_rows[seq]), val.subset(rows)
            sources = self._baseline_sources(seq, sub, fit)
            if not sources:
                continue
            preds = baseline_predictions(fit.channels(sources), fit.channels([seq]), fit.brain_mask,
                                         sub.channels(sources), sources)
            scores = [paired_metrics(p, sub.channels([seq])[..., 0], sub.brain_mask, sub.subjects)
                      for name, p in preds.items() if name != "mean_image"]
            self._val_baselines[seq] = {m: max(r[m]["mean"] for r in scores) for m in ("ssim", "psnr")}

    def _baseline_sources(self, seq: str, val: SliceSet, train: SliceSet) -> list[str]:
        """The sequences a baseline for ``seq`` reads: the run's sources (translation), or the
        other sequences present in every validation and training slice of it (imputation)."""
        if not self.imputation:
            return list(self.sources)
        return [s for s in SEQUENCES if s != seq and val.has([s]).all() and train.has([s]).all()]

    def sample_grid(self, data: SliceSet, seed: int) -> np.ndarray:
        """Rows of source | synthesized | real target | |error| on validation slices once
        validation has run (else on ``data``); imputation rows hide one sequence each in turn."""
        data = self._val_data if self._val_data is not None and len(self._val_data) else data
        pairs = self._pairs(data)
        if not pairs:
            return -np.ones((data.size, 4 * data.size), np.float32)
        rng = np.random.default_rng([seed, 5])
        tiles = []
        for k in range(4):
            seq, rows = pairs[k % len(pairs)]
            i = int(rng.choice(rows))
            image, have = data.images[i:i + 1], data.available[i]
            pred = self.translate(image, have, seq)[0]
            real = image[0, ..., SEQUENCES.index(seq)]
            shown = [s for s in self.sources if have[SEQUENCES.index(s)] and s != seq][0]
            tiles += [image[0, ..., SEQUENCES.index(shown)], pred, real, np.abs(pred - real) - 1.0]
        return tile(np.stack(tiles), 4)
