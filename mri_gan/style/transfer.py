"""Gatys et al. neural style transfer on gray MRI, a whole batch of (content, style) pairs at once.

Losses are pure functions of tensors returning one value per example, so optimising the sum
over a batch moves each image exactly as optimising it alone would (with Adam; L-BFGS couples
the pairs of a batch through its line search):

- Gram matrix of features F [B, H, W, C]: ``G = F^T F / (H W)`` -> [B, C, C].
- content loss: ``mean((F - P)^2) / (mean(P^2) + eps)`` over the content layers (P = content
  features), averaged over the layers;
- style loss: ``mean((G - A)^2) / (mean(A^2) + eps)`` per style layer (A = style Gram),
  averaged over the layers;
- total variation: ``tf.image.total_variation(x) / (H W)``;
- total = alpha * content + beta * style + gamma * tv.

Normalising each term by its target makes alpha / beta / gamma mean the same for ImageNet, MRI
or random weights, whose activations differ in scale by orders of magnitude.

The image starts from the content image and stays in [-1, 1] (clipped after each step).
Content and style targets are computed once per batch; one ``tf.function`` step then updates
the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import keras
import numpy as np
import tensorflow as tf

from mri_gan import progress
from mri_gan.errors import UserError
from mri_gan.style.vgg import CONTENT_LAYERS, STYLE_LAYERS

EPS = 1e-8
LOSS_NAMES = ("content", "style", "tv", "total")
OPTIMIZERS = ("adam", "lbfgs")
PAIRINGS = ("random", "index")


# --- pure loss functions -----------------------------------------------------------------

def gram_matrix(features):
    """[B, H, W, C] -> [B, C, C], normalised by the number of positions H * W."""
    features = tf.cast(features, tf.float32)
    shape = tf.shape(features)
    positions = tf.cast(shape[1] * shape[2], tf.float32)
    return tf.einsum("bhwc,bhwd->bcd", features, features) / positions


def _relative_mse(value, target):
    """Per-example mean squared difference over the non-batch axes, divided by mean(target^2)."""
    axes = tf.range(1, tf.rank(target))
    return (tf.reduce_mean(tf.square(value - target), axis=axes)
            / (tf.reduce_mean(tf.square(target), axis=axes) + EPS))


def content_loss(features: dict, targets: dict):
    """[B]: relative squared feature difference averaged over the layers of ``targets``."""
    return tf.add_n([_relative_mse(tf.cast(features[n], tf.float32), targets[n]) for n in targets]) / len(targets)


def style_loss(features: dict, target_grams: dict):
    """[B]: relative squared Gram difference averaged over the layers of ``target_grams``."""
    return tf.add_n([_relative_mse(gram_matrix(features[n]), target_grams[n])
                     for n in target_grams]) / len(target_grams)


def tv_loss(images):
    """[B]: total variation (sum of absolute neighbour differences) per pixel."""
    images = tf.convert_to_tensor(images, tf.float32)
    shape = tf.shape(images)
    return tf.image.total_variation(images) / tf.cast(shape[1] * shape[2], tf.float32)


def total_loss(parts: dict, alpha: float, beta: float, gamma: float):
    return alpha * parts["content"] + beta * parts["style"] + gamma * parts["tv"]


# --- pairing and post-processing -----------------------------------------------------------

def pair_indices(n_content: int, n_style: int, pairing: str = "random", seed: int = 0) -> np.ndarray:
    """For each style image, the index of its content image."""
    if pairing == "index":
        if n_content < n_style:
            raise UserError("--pairing", f"index pairing needs as many content images as style images "
                                         f"({n_content} < {n_style})")
        return np.arange(n_style)
    if pairing == "random":
        rng = np.random.default_rng(seed)
        return rng.choice(n_content, size=n_style, replace=n_content < n_style)
    raise UserError("--pairing", f"unknown pairing {pairing!r} (known: {', '.join(PAIRINGS)})")


def smooth_edges(images: np.ndarray, sigma: float) -> np.ndarray:
    """Blend each image with its Gaussian blur where its edges are strong (Pix2Pix refinement).

    The blend weight is the Sobel gradient magnitude, blurred with the same sigma and scaled to
    [0, 1] per image, so flat regions keep their stylized texture and edge artefacts are
    softened. ``images`` [N, H, W, 1] in [-1, 1].
    """
    if sigma <= 0:
        return images
    out = np.empty_like(images)
    for i, img in enumerate(images[..., 0].astype(np.float32)):
        blurred = cv2.GaussianBlur(img, (0, 0), sigma)
        magnitude = cv2.magnitude(cv2.Sobel(img, cv2.CV_32F, 1, 0), cv2.Sobel(img, cv2.CV_32F, 0, 1))
        weight = cv2.GaussianBlur(magnitude, (0, 0), sigma)
        weight = weight / weight.max() if weight.max() > 0 else weight
        out[i, ..., 0] = (1.0 - weight) * img + weight * blurred
    return np.clip(out, -1.0, 1.0)


# --- the optimisation ----------------------------------------------------------------------

@dataclass
class StyleResult:
    """Stylized images [N, H, W, 1] in [-1, 1] and losses per iteration and pair [steps + 1, N]."""

    images: np.ndarray
    history: dict = field(default_factory=dict)

    def mean_history(self) -> dict:
        """Per-iteration losses averaged over the pairs: {name: [steps + 1 floats]}."""
        return {name: [float(v) for v in values.mean(axis=1)] for name, values in self.history.items()}


class StyleTransfer:
    """The Gatys loop over a frozen feature extractor (see :func:`mri_gan.style.vgg.feature_extractor`)."""

    def __init__(self, extractor, style_layers=STYLE_LAYERS, content_layers=CONTENT_LAYERS,
                 alpha: float = 1.0, beta: float = 10.0, gamma: float = 0.01,
                 learning_rate: float = 0.02, optimizer: str = "adam"):
        if optimizer not in OPTIMIZERS:
            raise UserError("--optimizer", f"unknown optimizer {optimizer!r} (known: {', '.join(OPTIMIZERS)})")
        missing = [n for n in (*style_layers, *content_layers) if n not in extractor.output]
        if missing:
            raise UserError("layers", f"the feature extractor does not output {', '.join(missing)}")
        self.extractor = extractor
        self.style_layers = tuple(style_layers)
        self.content_layers = tuple(content_layers)
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.learning_rate = float(learning_rate)
        self.optimizer = optimizer
        self._targets = tf.function(self._compute_targets)
        self._evaluate = tf.function(self.losses)

    def targets(self, content, style) -> tuple[dict, dict]:
        """Content features and style Gram matrices of a batch, computed once: ({layer: [B, ...]}, ...)."""
        return self._targets(tf.convert_to_tensor(content, tf.float32), tf.convert_to_tensor(style, tf.float32))

    def _compute_targets(self, content, style):
        content_features = self.extractor(content)
        style_features = self.extractor(style)
        return ({n: tf.cast(content_features[n], tf.float32) for n in self.content_layers},
                {n: gram_matrix(tf.cast(style_features[n], tf.float32)) for n in self.style_layers})

    def losses(self, images, content_targets: dict, style_grams: dict) -> dict:
        """{content, style, tv, total}: [B] each, for images [B, H, W, 1]."""
        features = self.extractor(images)
        parts = {"content": content_loss(features, content_targets),
                 "style": style_loss(features, style_grams),
                 "tv": tv_loss(images)}
        parts["total"] = total_loss(parts, self.alpha, self.beta, self.gamma)
        return parts

    def run(self, content: np.ndarray, style: np.ndarray, steps: int) -> StyleResult:
        """Stylize one batch of pairs (content[i], style[i]) with ``steps`` optimiser iterations."""
        content = tf.convert_to_tensor(content, tf.float32)
        style = tf.convert_to_tensor(style, tf.float32)
        content_targets, style_grams = self.targets(content, style)
        run = self._run_adam if self.optimizer == "adam" else self._run_lbfgs
        images, history = run(content, content_targets, style_grams, steps)
        return StyleResult(images, {n: np.stack(v) for n, v in history.items()})

    def adam_step(self, content, content_targets: dict, style_grams: dict):
        """(step, image): ``step()`` runs one Adam iteration on the image variable (started at
        ``content``) and returns the losses before it, {name: [B]}."""
        image = tf.Variable(content, name="stylized")
        adam = keras.optimizers.Adam(self.learning_rate)
        adam.build([image])

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                parts = self.losses(image, content_targets, style_grams)
                objective = tf.reduce_sum(parts["total"])
            adam.apply_gradients([(tape.gradient(objective, image), image)])
            image.assign(tf.clip_by_value(image, -1.0, 1.0))
            return parts

        return step, image

    def _run_adam(self, content, content_targets, style_grams, steps):
        step, image = self.adam_step(content, content_targets, style_grams)
        history = {n: [] for n in LOSS_NAMES}
        with progress.bar(f"style transfer ({len(content)} images)", steps, "iteration") as shown:
            for _ in range(steps):
                for n, v in step().items():
                    history[n].append(v.numpy())
                shown.update()
        for n, v in self._evaluate(image, content_targets, style_grams).items():
            history[n].append(v.numpy())
        return image.numpy(), history

    def _run_lbfgs(self, content, content_targets, style_grams, steps):
        from scipy.optimize import minimize

        shape = content.shape

        @tf.function
        def value_and_grad(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                parts = self.losses(x, content_targets, style_grams)
                objective = tf.reduce_sum(parts["total"])
            return objective, tape.gradient(objective, x), parts

        last = {}

        def fun(flat):
            x = tf.constant(flat.reshape(shape), tf.float32)
            value, grad, parts = value_and_grad(x)
            last.update(x=flat.copy(), parts={n: v.numpy() for n, v in parts.items()})
            return float(value), grad.numpy().ravel().astype(np.float64)

        history = {n: [] for n in LOSS_NAMES}

        def record(flat):
            if "x" not in last or not np.array_equal(last["x"], flat):
                fun(flat)
            for n, v in last["parts"].items():
                history[n].append(v)

        x0 = content.numpy().ravel().astype(np.float64)
        record(x0)
        result = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=[(-1.0, 1.0)] * x0.size,
                          callback=record, options={"maxiter": steps, "maxfun": steps * 2})
        for n in LOSS_NAMES:  # converged early: the losses stay where they are
            history[n].extend([history[n][-1]] * (steps + 1 - len(history[n])))
        return result.x.reshape(shape).astype(np.float32), history


def stylize(transfer: StyleTransfer, content: np.ndarray, style: np.ndarray, steps: int,
            batch_size: int = 64, progress=None) -> StyleResult:
    """Stylize pairs (content[i], style[i]) in batches of ``batch_size``; one result for all."""
    if len(content) != len(style):
        raise ValueError("content and style must pair up one to one")
    images, history = [], {n: [] for n in LOSS_NAMES}
    for start in range(0, len(style), batch_size):
        part = transfer.run(content[start:start + batch_size], style[start:start + batch_size], steps)
        images.append(part.images)
        for n in LOSS_NAMES:
            history[n].append(part.history[n])
        if progress is not None:
            progress(min(start + batch_size, len(style)), len(style))
    return StyleResult(np.concatenate(images), {n: np.concatenate(v, axis=1) for n, v in history.items()})
