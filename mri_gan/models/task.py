"""What the trainer needs from a model family: the GAN task interface.

A task owns its generator, discriminator and optimisers and exposes one single-replica step.
The trainer (mri_gan.training) wraps ``replica_step`` in ``strategy.run`` inside one
``tf.function`` and feeds it per-replica slices of global batches made by ``make_batch``.
Models never import the trainer.
"""

from __future__ import annotations

import cv2
import keras
import numpy as np
import tensorflow as tf

from mri_gan.config import TrainConfig
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
        """TensorSpecs (batch axis first) of what ``make_batch`` returns in ``step``'s segment."""
        raise NotImplementedError

    def make_batch(self, data: SliceSet, index: np.ndarray, rng: np.random.Generator, step: int) -> dict:
        """Global batch of NumPy arrays for the examples ``index``; ``rng`` is this step's."""
        raise NotImplementedError

    def mirrored(self, rng: np.random.Generator, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        """``arrays`` ([N, H, W, C] each) with the same random half of the examples flipped left to
        right when ``cfg.flip`` (the brain is near-symmetric; lesions fall on either side)."""
        if not self.cfg.flip:
            return arrays
        flip = (rng.random(len(arrays[0])) < 0.5)[:, None, None, None]
        return tuple(np.where(flip, a[:, :, ::-1], a) for a in arrays)

    def warped(self, rng: np.random.Generator, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        """``arrays`` ([N, H, W, C] each) with the same random rotation (uniform within
        +-``cfg.rotate`` degrees) and zoom (a factor within 1 +- ``cfg.zoom``) about the image centre
        per example, bilinear, the edge values continued outwards (background, no lesion)."""
        if not (self.cfg.rotate or self.cfg.zoom):
            return arrays
        n, h, w = arrays[0].shape[:3]
        angles = rng.uniform(-self.cfg.rotate, self.cfg.rotate, n)
        scales = rng.uniform(1.0 - self.cfg.zoom, 1.0 + self.cfg.zoom, n)
        out = tuple(np.empty_like(a) for a in arrays)
        for i in range(n):
            matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), float(angles[i]), float(scales[i]))
            for a, o in zip(arrays, out):
                for c in range(a.shape[3]):
                    o[i, ..., c] = cv2.warpAffine(a[i, ..., c], matrix, (w, h), flags=cv2.INTER_LINEAR,
                                                  borderMode=cv2.BORDER_REPLICATE)
        return out

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

    def train_filter(self, data: SliceSet) -> np.ndarray:
        keep = data.has(self.cfg.sequences)
        if self.num_classes:
            keep &= self.labels_of(data) >= 0
        return keep


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
