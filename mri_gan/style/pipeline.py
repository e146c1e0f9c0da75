"""The stylize pipeline: read style and content images, pair them, run the VGG19 style loop and
write the output folder (``mri_gan.style.output``) all at once.

Content images are real MRI, style images the generated samples (the paper's pairing); Pix2Pix
runs get the Gaussian edge smoothing by default.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mri_gan import atomic
from mri_gan.errors import UserError
from mri_gan.style import inputs, output, transfer, vgg


@dataclass(frozen=True)
class Settings:
    """How to stylize; ``check`` refuses impossible values, naming the command-line option."""

    steps: int = 100
    pairing: str = "random"
    vgg_weights: str = "auto"
    size: int | None = None          # default: the style images' size
    batch: int = 64
    optimizer: str = "adam"
    lr: float = 0.02
    smooth_sigma: float | None = None  # default 1.0 for Pix2Pix runs, else 0 (off)
    alpha: float = 1.0
    beta: float = 10.0
    gamma: float = 0.01
    n: int = 64                      # samples generated from a run that has none
    sequence: str | None = None      # of a content data source
    seed: int = 0

    def check(self) -> None:
        for name, low in (("steps", 1), ("batch", 1), ("n", 1)):
            if getattr(self, name) < low:
                raise UserError(f"--{name}", f"must be at least {low}")
        if self.size is not None and self.size < 16:
            raise UserError("--size", "must be at least 16 (VGG19 pools four times before block5)")
        for name in ("alpha", "beta", "gamma"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name}", "must not be negative")
        if self.lr <= 0:
            raise UserError("--lr", "must be positive")
        if self.smooth_sigma is not None and self.smooth_sigma < 0:
            raise UserError("--smooth-sigma", "must not be negative")


def stylize(content: str, style: str | None, run: str | None, out, settings: Settings, overwrite: bool = False,
            progress: Callable[[str], None] = lambda text: None) -> int:
    """Stylize the style images of folder ``style`` (or of run directory ``run``) with content images
    from ``content``; write the output folder ``out``; return the number of images written."""
    s = settings
    s.check()
    atomic.check(out, overwrite, folder=True)
    style_images, style_desc, run_model = inputs.style_images(style, run, s.size, s.n, s.seed)
    size = style_images.shape[1]
    pool = inputs.content_images(content, s.sequence, size)
    pairs = transfer.pair_indices(pool.count, len(style_images), s.pairing, s.seed)
    content_images = pool.take(pairs, size)
    sigma = s.smooth_sigma if s.smooth_sigma is not None else (1.0 if run_model == "pix2pix" else 0.0)

    extractor, vgg_info = vgg.feature_extractor(s.vgg_weights, seed=s.seed)
    progress(f"VGG19 weights: {vgg_info['weights']}" + (f" ({vgg_info['file']})" if vgg_info.get("file") else "")
             + f", requested {vgg_info['requested']}")
    loop = transfer.StyleTransfer(extractor, alpha=s.alpha, beta=s.beta, gamma=s.gamma, learning_rate=s.lr,
                                  optimizer=s.optimizer)
    start = time.perf_counter()

    def pairs_done(done, total):
        rate = done * s.steps / (time.perf_counter() - start)
        progress(f"stylized {done}/{total} pairs ({rate:.2f} image-iterations/s)")

    result = transfer.stylize(loop, content_images, style_images, s.steps, batch_size=s.batch, progress=pairs_done)
    seconds = time.perf_counter() - start
    stylized = transfer.smooth_edges(result.images, sigma).astype(np.float32)
    record = {"vgg": vgg_info, "content": {"input": content, "available": pool.count},
              "style": {"input": style_desc, "count": len(style_images), "run_model": run_model},
              "pairing": s.pairing, "seed": s.seed, "size": size, "steps": s.steps,
              "batch": s.batch, "optimizer": s.optimizer, "learning_rate": s.lr,
              "alpha": s.alpha, "beta": s.beta, "gamma": s.gamma, "smooth_sigma": sigma,
              "style_layers": list(loop.style_layers), "content_layers": list(loop.content_layers),
              "seconds": round(seconds, 2),
              "image_iterations_per_s": round(len(style_images) * s.steps / seconds, 3)}
    with atomic.atomic_folder(out, overwrite) as tmp:
        output.write(tmp, content_images, style_images, stylized, pairs, result, record)
    return len(stylized)
