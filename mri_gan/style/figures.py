"""Figures of a style-transfer run: loss curves (the paper's Figure 5), before / after grid (Figure 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mri_gan.data.preprocess import from_model_range


def _figure(width: float, height: float):
    """A figure outside pyplot: no GUI backend, nothing left open; notebooks display it as returned.
    Constrained layout keeps the title off the panels' titles."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def loss_curves(losses: dict, path: Path | None = None, title: str = "Style transfer losses"):
    """One panel per loss (content, style, tv, total) against the iteration; the figure, or saved."""
    names = [n for n in ("content", "style", "tv", "total") if n in losses]
    fig = _figure(3.2 * len(names), 2.8)
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names):
        values = np.asarray(losses[name], np.float64)
        ax.plot(np.arange(len(values)), values, color="tab:blue")
        if (values > 0).all() and values.max() > 20 * values.min():
            ax.set_yscale("log")
        ax.set_title(f"{name} loss")
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _finish(fig, path)


def before_after(content: np.ndarray, style: np.ndarray, stylized: np.ndarray, path: Path | None = None,
                 columns: int = 8):
    """Rows: content (real), style (generated), stylized; up to ``columns`` pairs; images in [-1, 1]."""
    n = min(columns, len(stylized))
    fig = _figure(1.6 * n, 5.0)
    axes = fig.subplots(3, n, squeeze=False)
    for row, (name, images) in enumerate((("content", content), ("style", style), ("stylized", stylized))):
        for col in range(n):
            ax = axes[row, col]
            ax.imshow(from_model_range(images[col, ..., 0]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(name)
    return _finish(fig, path)


def _finish(fig, path):
    if path is None:
        return fig
    fig.savefig(path, dpi=100)
    return path
