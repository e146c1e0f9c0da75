"""What the trainer needs from a model family: the GAN task interface.

A task owns its generator, discriminator and optimisers and exposes one single-replica step.
The trainer (mri_gan.training) wraps ``replica_step`` in ``strategy.run`` inside one
``tf.function`` and feeds it per-replica slices of global batches that the input pipeline
(mri_gan.data.pipeline) builds in the graph: ``draw`` makes every random number of a global
batch from a stateless seed, ``assemble`` gathers the examples from the ``source`` tensors and
applies the draws. Models never import the trainer.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from mri_gan.config import TrainConfig
from mri_gan.data.records import SEQUENCES
from mri_gan.data.slice_set import SliceSet


class GANTask:
    """Base class: optimisers, checkpointed state and the batch contract."""

    #: names of the values replica_step returns (reduced with SUM across replicas)
    LOGS: tuple[str, ...] = ()
    #: the validation figure (higher is better) that picks checkpoints/best; None: no best kept
    SELECT: str | None = None

    def __init__(self, cfg: TrainConfig, meta: dict):
        self.cfg = cfg
        self.meta = meta          # label_names, channels, ... (saved as model.json)
        self.checkpoint: str | None = None   # the checkpoint inference restored the weights from
        self.generator: keras.Model
        self.discriminator: keras.Model
        self.g_opt: keras.optimizers.Optimizer
        self.d_opt: keras.optimizers.Optimizer

    # -- building (inside strategy.scope()) ------------------------------------------------
    def build(self) -> None:
        """Create models and optimisers and build every variable before the first step."""
        raise NotImplementedError

    def initialise(self, train: SliceSet) -> None:
        """Set weights derived from the training slices after :meth:`build` (a resume then
        restores the saved ones)."""

    def _adam(self, lr: float) -> keras.optimizers.Optimizer:
        if self.cfg.lr_decay:
            lr = HalfLinearDecay(lr, self.cfg.steps)
        opt = keras.optimizers.Adam(lr, beta_1=self.cfg.beta_1, beta_2=self.cfg.beta_2)
        if self.cfg.precision == "mixed_float16":
            opt = keras.optimizers.LossScaleOptimizer(opt)
        return opt

    def _build_optimizers(self) -> None:
        self.g_opt = self._adam(self.cfg.lr_g)
        self.d_opt = self._adam(self.cfg.lr_d)
        self.g_opt.build(self.generator.trainable_variables)
        self.d_opt.build(self.discriminator.trainable_variables)

    def trackables(self) -> dict:
        """Everything a checkpoint must hold for an exact resume.

        Weights are listed in model order (layer lists nested in Python lists are not reached
        by tf.train.Checkpoint's attribute walk, so the models are not passed whole)."""
        return {"generator_weights": list(self.generator.weights),
                "discriminator_weights": list(self.discriminator.weights),
                "g_opt": self.g_opt, "d_opt": self.d_opt}

    # -- data ------------------------------------------------------------------------------
    def segments(self, total_steps: int) -> list[tuple[int, int, int]]:
        """(first step, end step, global batch) of each stretch of training with fixed shapes.

        The trainer traces one step function per segment; progressive growing overrides this."""
        return [(0, total_steps, self.cfg.batch_size)]

    def batch_spec(self, step: int) -> dict[str, tf.TensorSpec]:
        """TensorSpecs (batch axis first) of what ``assemble`` returns in ``step``'s segment."""
        raise NotImplementedError

    def source(self, data: SliceSet) -> dict[str, np.ndarray]:
        """The arrays over all slices of ``data`` that batches gather their examples from."""
        return {"images": data.images}

    def draw(self, seed: tf.Tensor, step: tf.Tensor, n: int, segment: int) -> dict[str, tf.Tensor]:
        """Every random number of a global batch of ``n`` examples at ``step``, from the stateless
        ``seed`` ([2] int64), each with the batch axis first (so a replica takes its rows);
        ``segment`` is a step of the same segment (fixed shapes)."""
        raise NotImplementedError

    def assemble(self, source: dict[str, tf.Tensor], index: tf.Tensor, draws: dict[str, tf.Tensor],
                 segment: int) -> dict[str, tf.Tensor]:
        """The batch of the examples ``index`` (rows of ``source``) with their ``draws``, in TF ops."""
        raise NotImplementedError

    def make_batch(self, data: SliceSet, index: np.ndarray, rng: np.random.Generator, step: int = 0) -> dict:
        """One global batch of the examples ``index`` as NumPy arrays, its draws seeded from ``rng``
        (eagerly, outside the input pipeline)."""
        seed = tf.constant(rng.integers(0, 2 ** 62, 2), tf.int64)
        source = {k: tf.constant(v) for k, v in self.source(data).items()}
        draws = self.draw(seed, tf.constant(step, tf.int64), len(index), step)
        return {k: v.numpy() for k, v in self.assemble(source, tf.constant(index), draws, step).items()}

    def geometry_draws(self, seed: tf.Tensor, n: int) -> dict[str, tf.Tensor]:
        """Per example: ``flip`` (half of them, when ``cfg.flip``), and the ``angle`` (radians,
        uniform within +-``cfg.pix2pix.rotate`` degrees) and ``scale`` (within 1 +- ``cfg.pix2pix.zoom``)
        of a warp, when either is set."""
        flip, angle, scale = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
        out = {}
        if self.cfg.flip:
            out["flip"] = tf.random.stateless_uniform([n], flip) < 0.5
        rotate, zoom = (self.cfg.pix2pix.rotate, self.cfg.pix2pix.zoom) if self.cfg.pix2pix else (0.0, 0.0)
        if rotate or zoom:
            limit = math.radians(rotate)
            out["angle"] = tf.random.stateless_uniform([n], angle, -limit, limit)
            out["scale"] = tf.random.stateless_uniform([n], scale, 1.0 - zoom, 1.0 + zoom)
        return out

    def transformed(self, draws: dict[str, tf.Tensor], images: tf.Tensor,
                    masks: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor | None]:
        """``images`` and ``masks`` ([N, H, W, C] each) mirrored left to right where ``draws`` say
        so (the brain is near-symmetric; lesions fall on either side), then rotated and zoomed about
        the image centre, bilinear for images, nearest for masks, the edge values continued outwards
        (background, no lesion): OpenCV's ``warpAffine`` with ``getRotationMatrix2D`` and
        ``BORDER_REPLICATE``, the mirror folded into the same transform."""
        if "angle" in draws:
            transforms = warp_transforms(draws["angle"], draws["scale"], draws.get("flip"), images.shape[1:3])
            images = projective(images, transforms, "BILINEAR")
            masks = None if masks is None else projective(masks, transforms, "NEAREST")
        elif "flip" in draws:
            flip = draws["flip"][:, None, None, None]
            images = tf.where(flip, tf.reverse(images, [2]), images)
            masks = None if masks is None else tf.where(flip, tf.reverse(masks, [2]), masks)
        return images, masks

    def warped(self, rng: np.random.Generator, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        """``arrays`` ([N, H, W, C] each, NumPy) with the same random mirror and warp per example
        (:meth:`transformed`, bilinear throughout), drawn from ``rng``."""
        seed = tf.constant(rng.integers(0, 2 ** 62, 2), tf.int64)
        joined, _ = self.transformed(self.geometry_draws(seed, len(arrays[0])),
                                     tf.constant(np.concatenate(arrays, axis=-1), tf.float32))
        return tuple(np.split(joined.numpy(), np.cumsum([a.shape[-1] for a in arrays])[:-1], axis=-1))

    def train_filter(self, data: SliceSet) -> np.ndarray:
        """[N] bool: the training slices this task can use (e.g. those with the sequences)."""
        return np.ones(len(data), bool)

    # -- the step --------------------------------------------------------------------------
    def replica_step(self, batch: dict, global_batch: int) -> dict[str, tf.Tensor]:
        """One optimisation step on this replica's slice; returns per-replica contributions
        to global means (so that a SUM over replicas gives the global value)."""
        raise NotImplementedError

    def _apply(self, opt, tape, loss, variables) -> None:
        if isinstance(opt, keras.optimizers.LossScaleOptimizer):
            grads = tape.gradient(opt.scale_loss(loss), variables)
        else:
            grads = tape.gradient(loss, variables)
        opt.apply(grads, variables)

    # -- pictures --------------------------------------------------------------------------
    def sample_grid(self, data: SliceSet, seed: int) -> np.ndarray:
        """A [rows, cols] grid of images in [-1, 1] as one 2-D array, for samples/ and TensorBoard."""
        raise NotImplementedError

    def validate(self, data: SliceSet) -> dict[str, float]:
        """Validation figures on held-out subjects ({} for unpaired models)."""
        return {}

    def fit_references(self, train: SliceSet, val: SliceSet) -> None:
        """Fit, on the training split, whatever ``validate`` compares the model with (baselines)."""


class GenerativeTask(GANTask):
    """What the noise -> image models (DCGAN, PGGAN) share: labels in the run's label view,
    conditioning on them when ``cfg.conditional``, and the slices they can train on."""

    @property
    def num_classes(self) -> int:
        return len(self.meta["label_names"]) if self.cfg.conditional else 0

    def labels_of(self, data: SliceSet) -> np.ndarray:
        """Label indices in this run's label view (-1 = unlabelled)."""
        if self.cfg.label_view == "binary":
            return data.binary_labels()[0]
        return data.labels

    def source(self, data: SliceSet) -> dict[str, np.ndarray]:
        return {"images": data.images, "labels": np.maximum(self.labels_of(data), 0).astype(np.int32)}

    def reals(self, source: dict[str, tf.Tensor], index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(the images of ``cfg.family.sequences`` as channels, their labels, 0 for unlabelled) of ``index``."""
        channels = [SEQUENCES.index(s) for s in self.cfg.family.sequences]
        return (tf.gather(tf.gather(source["images"], index), channels, axis=3),
                tf.gather(source["labels"], index))

    def train_filter(self, data: SliceSet) -> np.ndarray:
        keep = data.has(self.cfg.family.sequences)
        if self.num_classes:
            keep &= self.labels_of(data) >= 0
        return keep


def warp_transforms(angle: tf.Tensor, scale: tf.Tensor, flip: tf.Tensor | None, size) -> tf.Tensor:
    """[N, 8] projective transforms (output pixel -> input pixel) of a rotation by ``angle``
    (radians, counter-clockwise as in OpenCV) and a zoom by ``scale`` about the image centre, after
    a left-right mirror where ``flip``; pixel centres at integer coordinates, as in OpenCV."""
    h, w = size
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    a, b = tf.cos(angle) / scale, tf.sin(angle) / scale
    f = tf.ones_like(a) if flip is None else tf.where(flip, -1.0, 1.0)
    zero = tf.zeros_like(a)
    return tf.stack([f * a, -f * b, cx - f * (a * cx - b * cy),
                     b, a, cy - b * cx - a * cy, zero, zero], axis=1)


@tf.function(jit_compile=True)
def projective(images: tf.Tensor, transforms: tf.Tensor, interpolation: str) -> tf.Tensor:
    """``images`` [N, H, W, C] resampled by ``transforms`` [N, 8] (affine: the last two 0),
    bilinear or nearest, sample positions outside clamped to the edge: what
    ``ImageProjectiveTransformV3`` with fill mode NEAREST computes, as row gathers of all channels
    at once, XLA-compiled into one loop (about 4x faster than that op on CPU)."""
    n, h, w, c = images.shape
    flat = tf.reshape(images, [-1, c])
    y, x = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij")
    t = transforms[:, :, None, None]
    sx = tf.clip_by_value(t[:, 0] * x + t[:, 1] * y + t[:, 2], 0.0, w - 1.0)
    sy = tf.clip_by_value(t[:, 3] * x + t[:, 4] * y + t[:, 5], 0.0, h - 1.0)
    base = (tf.range(tf.shape(images)[0]) * (h * w))[:, None, None]
    if interpolation == "NEAREST":
        return tf.gather(flat, base + tf.cast(tf.round(sy), tf.int32) * w + tf.cast(tf.round(sx), tf.int32))
    x0, y0 = tf.floor(sx), tf.floor(sy)
    wx, wy = (sx - x0)[..., None], (sy - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    x1, y1 = tf.minimum(x0 + 1, w - 1), tf.minimum(y0 + 1, h - 1)
    top, bottom = base + y0 * w, base + y1 * w
    upper = tf.gather(flat, top + x0) * (1.0 - wx) + tf.gather(flat, top + x1) * wx
    lower = tf.gather(flat, bottom + x0) * (1.0 - wx) + tf.gather(flat, bottom + x1) * wx
    return upper * (1.0 - wy) + lower * wy


@keras.saving.register_keras_serializable(package="mri_gan")
class HalfLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``lr`` for the first half of ``steps``, then linearly down to 0 at ``steps`` (pix2pix's schedule)."""

    def __init__(self, lr: float, steps: int):
        self.lr, self.steps = float(lr), int(steps)

    def __call__(self, step):
        half = self.steps / 2.0
        left = (self.steps - tf.cast(step, tf.float32)) / max(half, 1.0)
        return self.lr * tf.clip_by_value(left, 0.0, 1.0)

    def get_config(self):
        return {"lr": self.lr, "steps": self.steps}


def tile(images: np.ndarray, cols: int) -> np.ndarray:
    """[N, H, W] -> one 2-D mosaic with ``cols`` columns (padding with -1)."""
    n, h, w = images.shape
    rows = -(-n // cols)
    out = -np.ones((rows * h, cols * w), np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return out
