"""Where an evaluation's stylized images come from: a ``mri-gan stylize`` output, the style loop
run here with a small budget, or nowhere (no VGG19 weights at hand)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mri_gan.errors import UserError
from mri_gan.style import output, transfer, vgg

STYLIZE_DEFINITION = ("Gatys style transfer by `mri-gan stylize` (content images, pairing and weights as its "
                      "style_info.json records them)")


@dataclass
class StylePlan:
    """Where stylized images come from: a stylize output folder, the loop here, or nowhere."""

    folder: Path | None = None
    weights: str | None = None   # --vgg-weights for the loop here; None: style transfer not run
    reason: str = ""


def plan_style(stylized, vgg_weights: str = "auto") -> StylePlan:
    """Choose the style source: ``stylized`` (a stylize output) wins; else the loop with weights that
    exist locally (never a download): ImageNet in the Keras cache, MRI weights, or a path."""
    if stylized is not None:
        folder = Path(stylized)
        if not output.is_output(folder):
            raise UserError(folder, f"not a `mri-gan stylize` output ({output.ARRAYS} missing)")
        return StylePlan(folder=folder)
    choice = str(vgg_weights)
    if choice == "none":
        return StylePlan(reason="style transfer not requested (--vgg-weights none)")
    if choice == "auto":
        if vgg.keras_cache_file().is_file():
            return StylePlan(weights="imagenet")
        if (vgg.MRI_DIR / vgg.MRI_WEIGHTS).is_file():
            return StylePlan(weights="mri")
        return StylePlan(reason=f"no VGG19 weights here (neither {vgg.keras_cache_file()} nor "
                                f"{vgg.MRI_DIR / vgg.MRI_WEIGHTS}); give --stylized DIR or --vgg-weights, or "
                                "train weights with `mri-gan pretrain-vgg`")
    return StylePlan(weights=choice)


def run_style(content: np.ndarray, style: np.ndarray, weights: str, steps: int, seed: int,
               sigma: float = 0.0) -> tuple[np.ndarray, dict, dict]:
    """Stylize pairs here: (images [N, H, W, 1], mean losses per iteration, settings)."""
    extractor, info = vgg.feature_extractor(weights, seed=seed)
    loop = transfer.StyleTransfer(extractor)
    result = transfer.stylize(loop, content.astype(np.float32), style.astype(np.float32), steps)
    images = transfer.smooth_edges(result.images, sigma).astype(np.float32)
    settings = {"source": "the loop run by evaluate", "vgg": info, "steps": steps, "pairs": len(style),
                "alpha": loop.alpha, "beta": loop.beta, "gamma": loop.gamma,
                "learning_rate": loop.learning_rate, "optimizer": loop.optimizer, "smooth_sigma": sigma}
    return images, result.mean_history(), settings
