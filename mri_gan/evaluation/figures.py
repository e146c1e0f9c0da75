"""Figures of a report, each with a caption that says what it shows.

Every ``fig_*`` function draws one PNG from evaluations (``REPORT_FIGURES``: all runs together)
or one evaluation (``RUN_FIGURES``) and returns a :class:`Drawn` (the path and its caption), or
None when the evaluation holds nothing to draw. Images are in [-1, 1]; error maps carry a colour
scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from mri_gan.evaluation.evaluate import Evaluation
from mri_gan.evaluation.tables import MODEL_LABEL, lookup
from mri_gan.paper_table import PAPER_TABLE1
from mri_gan.run_dir import RunDir

ERROR_MAP = "magma"


class Drawn(NamedTuple):
    path: Path
    caption: str


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(width: float, height: float, rows: int = 1, cols: int = 1, **kwargs):
    """A figure laid out by matplotlib's constrained layout (titles, legends and colour bars never
    overlap) and its axes [rows, cols]."""
    return _pyplot().subplots(rows, cols, figsize=(width, height), squeeze=False, layout="constrained", **kwargs)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)
    return path


def _show(ax, image, title=None):
    ax.imshow(np.clip((np.asarray(image) + 1) / 2, 0, 1), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def _error_map(fig, axes, errors: list[np.ndarray], title: str) -> None:
    """|error| images in one colour scale, with its colour bar beside the column."""
    top = max(float(np.max(e)) for e in errors) or 1.0
    for r, (ax, error) in enumerate(zip(axes, errors)):
        shown = ax.imshow(error, cmap=ERROR_MAP, vmin=0.0, vmax=top)
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title(title, fontsize=8)
    bar = fig.colorbar(shown, ax=list(axes), shrink=0.8)
    bar.set_label("|synthesized - real| ([-1, 1] intensity scale)", fontsize=7)
    bar.ax.tick_params(labelsize=7)


def label(ev: Evaluation) -> str:
    return MODEL_LABEL[ev.metrics["run"]["model"]]


def fig_losses(evals: list[Evaluation], path: Path) -> Drawn | None:
    """D and G loss curves of every run (metrics.jsonl)."""
    have = [e for e in evals if e.curves.get("training", {}).get("d_loss")]
    if not have:
        return None
    fig, axes = _figure(4.2 * len(have), 3, 1, len(have))
    for ax, ev in zip(axes[0], have):
        tr = ev.curves["training"]
        for name, text, color in (("d_loss", "D loss", "tab:red"), ("g_loss", "G loss", "tab:blue")):
            pts = [(s, v) for s, v in zip(tr["step"], tr.get(name, [])) if v is not None]
            if pts:
                ax.plot(*zip(*pts), color=color, label=text)
        ax.set_title(f"{ev.name} ({ev.metrics['run']['model']})", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return Drawn(_save(fig, path), "D and G loss per logged training step of every run (metrics.jsonl)")


def fig_distribution(ev: Evaluation, path: Path) -> Drawn | None:
    """Figure 5 analogue: real vs synthetic (and stylized) intensities and feature projections."""
    a = ev.arrays
    if "hist_real" not in a:
        return None
    network = lookup(ev.metrics, "distribution", "feature_network") or "n/a"
    fig, ((h, p),) = _figure(9, 3.6, 1, 2)
    centres = (np.arange(len(a["hist_real"])) + 0.5) / len(a["hist_real"])
    sets = (("real", "real held-out", "black"), ("synthetic", "synthetic", "tab:blue"),
            ("stylized", "synthetic + style", "tab:orange"))
    for key, text, color in sets:
        if f"hist_{key}" in a:
            h.plot(centres, a[f"hist_{key}"], color=color, label=text)
        if f"proj_{key}" in a:
            p.scatter(a[f"proj_{key}"][:, 0], a[f"proj_{key}"][:, 1], s=6, alpha=0.5, color=color, label=text)
    h.set_yscale("log")
    h.set_xlabel("intensity [0, 1]")
    h.set_ylabel("density (log)")
    h.set_title("pixel intensities", fontsize=9)
    h.legend(fontsize=8)
    p.set_title(f"{network} features, projected on the real set's 2 main axes", fontsize=9)
    p.set_xlabel("principal component 1")
    p.set_ylabel("principal component 2")
    p.tick_params(labelsize=7)
    p.legend(fontsize=8)
    fig.suptitle(f"{ev.name}: real vs synthetic", fontsize=10)
    shown = " and synthetic + style" if "hist_stylized" in a else ""
    return Drawn(_save(fig, path), f"Figure 5 analogue: pixel intensities (left) and {network} features (right: "
                                   f"PCA of the real held-out set), real held-out vs synthetic{shown}")


def fig_samples(ev: Evaluation, path: Path) -> Drawn | None:
    """Rows of held-out real slices, synthetic slices and (if any) synthetic + style, side by side."""
    rows = [(key, text) for key, text in (("real", "real held-out"), ("synthetic", "synthetic"),
                                          ("stylized", "synthetic + style"))
            if key in ev.arrays and len(ev.arrays[key])]
    if len(rows) < 2 or rows[0][0] != "real":
        return None
    n = max(len(ev.arrays[key]) for key, _ in rows)
    fig, axes = _figure(1.5 * n, 1.5 * len(rows) + 0.4, len(rows), n)
    for r, (key, text) in enumerate(rows):
        for c in range(n):
            if c < len(ev.arrays[key]):
                _show(axes[r, c], ev.arrays[key][c])
            else:
                axes[r, c].axis("off")
        axes[r, 0].set_ylabel(text, fontsize=8)
    fig.suptitle(f"{ev.name}: held-out real slices and {label(ev)} samples", fontsize=10)
    return Drawn(_save(fig, path), "rows, top to bottom: " + ", ".join(text for _, text in rows)
                 + "; each row spread evenly over its set")


def fig_training_samples(ev: Evaluation, path: Path) -> Drawn | None:
    """The run's last training sample grid (samples/step_*.png) with its rows and columns named."""
    import cv2

    grids = RunDir(ev.metrics["run"]["dir"]).samples()
    grid = cv2.imread(str(grids[-1]), cv2.IMREAD_GRAYSCALE) if grids else None
    if grid is None:
        return None
    model = ev.metrics["run"]["model"]
    paired = model == "pix2pix"
    cols = 4 if paired else 8
    size = grid.shape[1] // cols
    rows = grid.shape[0] // size
    if not size or not rows:
        return None
    tiles = [[grid[r * size:(r + 1) * size, c * size:(c + 1) * size] / 127.5 - 1 for c in range(cols)]
             for r in range(rows)]
    names = ev.metrics["run"].get("label_names") or []
    step = int(grids[-1].stem.split("_")[-1])
    fig, axes = _figure(1.4 * cols + (1.2 if paired else 0), 1.4 * rows + 0.4, rows, cols)
    titles = ("input", "synthesized", "real target") if paired else ()
    for r in range(rows):
        for c in range(3 if paired else cols):
            _show(axes[r, c], tiles[r][c], titles[c] if paired and r == 0 else None)
        if model == "cdcgan" and rows == len(names):
            axes[r, 0].set_ylabel(names[r], fontsize=8)
    if paired:
        _error_map(fig, axes[:, 3], [t[3] + 1 for t in tiles], "|error|")
        caption = (f"training samples of {ev.name} at step {step} (samples/{grids[-1].name}): one validation "
                   "slice per row; input, synthesized, real target and |error| with its colour scale")
    else:
        kind = "one row per class" if model == "cdcgan" and rows == len(names) else f"{rows} rows"
        caption = (f"training samples of {ev.name} at step {step} (samples/{grids[-1].name}): {kind} of "
                   f"{cols} samples from fixed noise")
    fig.suptitle(f"{ev.name}: training samples, step {step}", fontsize=10)
    return Drawn(_save(fig, path), caption)


def fig_style_losses(ev: Evaluation, path: Path) -> Drawn | None:
    """Content and style loss per Gatys iteration (mean over pairs)."""
    losses = ev.curves.get("style") or {}
    names = [n for n in ("content", "style") if losses.get(n)]
    if not names:
        return None
    fig, axes = _figure(4 * len(names), 3, 1, len(names))
    weights = lookup(ev.metrics, "style", "vgg", "weights") or "?"
    for ax, name in zip(axes[0], names):
        values = np.asarray(losses[name], float)
        ax.plot(np.arange(len(values)), values)
        if (values > 0).all() and values.max() > 20 * values.min():
            ax.set_yscale("log")
        ax.set_title(f"{name} loss", fontsize=9)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{ev.name}: style transfer losses (VGG19 weights: {weights})", fontsize=10)
    return Drawn(_save(fig, path), f"{' and '.join(names)} loss of the style transfer per iteration, mean over the "
                                   f"pairs (VGG19 weights: {weights})")


def fig_paired_examples(ev: Evaluation, path: Path) -> Drawn | None:
    """Rows of test slices: source | prediction | prediction + style | real target, then |error|."""
    a = ev.arrays
    if "prediction" not in a or not len(a["prediction"]):
        return None
    cols = [c for c in (("source", "input (source)"), ("prediction", "Pix2Pix"), ("stylized", "Pix2Pix + style"),
                        ("target", "real target")) if c[0] in a]
    n = len(a["prediction"])
    fig, axes = _figure(1.6 * (len(cols) + 1) + 1.0, 1.6 * n, n, len(cols) + 1)
    for r in range(n):
        for c, (key, title) in enumerate(cols):
            _show(axes[r, c], a[key][r], title if r == 0 else None)
    _error_map(fig, axes[:, -1], [np.abs(a["prediction"][r] - a["target"][r]) for r in range(n)],
               "|Pix2Pix - target|")
    return Drawn(_save(fig, path), "test slices, one per row; columns: " + ", ".join(t for _, t in cols)
                 + ", and |Pix2Pix - real target| with its colour scale")


def fig_paired_subjects(ev: Evaluation, path: Path) -> Drawn | None:
    """SSIM and PSNR per test subject: the model beside each baseline."""
    paired = ev.metrics.get("paired")
    if not paired:
        return None
    rows = {"model": paired, **(paired.get("baselines") or {})}
    if "with_style" in ev.metrics:
        rows["model + style"] = ev.metrics["with_style"]["paired"]
    subjects = sorted(paired["per_subject"])
    fig, axes = _figure(max(6, 1.2 * len(subjects) * len(rows) / 2), 3.6, 1, 2)
    width = 0.8 / len(rows)
    for ax, metric in zip(axes[0], ("ssim", "psnr")):
        for i, (name, row) in enumerate(rows.items()):
            values = [row["per_subject"].get(s, {}).get(metric, np.nan) for s in subjects]
            ax.bar(np.arange(len(subjects)) + i * width, values, width, label=name)
        ax.set_xticks(np.arange(len(subjects)) + 0.4 - width / 2)
        ax.set_xticklabels(subjects, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel(metric.upper() + (" (dB)" if metric == "psnr" else ""), fontsize=8)
        ax.set_title(f"{metric.upper()} per test subject (brain mask)", fontsize=9)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=min(4, len(rows)),
               fontsize=7)
    return Drawn(_save(fig, path), "SSIM and PSNR inside the brain mask per test subject: the model beside "
                                   "each trivial baseline (" + ", ".join(list(rows)[1:]) + ")")


def fig_grid6(evals: list[Evaluation], path: Path) -> Drawn | None:
    """Figure 6 analogue: each model's input, output and output + style, one column each."""
    gen = next((e for e in evals if "stylized" in e.arrays and "content" in e.arrays), None)
    par = next((e for e in evals if "stylized" in e.arrays and "prediction" in e.arrays), None)
    groups = []
    if gen is not None:
        groups += [(gen.arrays["content"], f"real ({gen.name})"), (gen.arrays["style"], label(gen)),
                   (gen.arrays["stylized"], f"{label(gen)} + style")]
    if par is not None:
        groups += [(par.arrays["source"], f"input ({par.name})"), (par.arrays["prediction"], "Pix2Pix"),
                   (par.arrays["stylized"], "Pix2Pix + style")]
    if not groups:
        return None
    n = min(len(g[0]) for g in groups)
    fig, axes = _figure(1.7 * len(groups), 1.7 * n + 0.3, n, len(groups))
    for c, (images, title) in enumerate(groups):
        for r in range(n):
            _show(axes[r, c], images[r], title if r == 0 else None)
    return Drawn(_save(fig, path), f"Figure 6 analogue, {len(groups)} columns: " + " | ".join(t for _, t in groups)
                 + "; each '+ style' image starts from the real image of its group's first column and takes the "
                   "texture statistics of the model's output beside it")


def _headlines(m: dict) -> list[tuple[str, float | None, float | None]]:
    """(name, without, with) of the defined accuracies shown as Figure 7 bars, in [0, 1]."""
    w = m.get("with_style", {})
    if "paired" in m:
        return [("SSIM", lookup(m, "paired", "ssim", "mean"), lookup(w, "paired", "ssim", "mean"))]
    out = [("realism", lookup(m, "two_sample", "realism"), lookup(w, "two_sample", "realism"))]
    for mode, text in (("real+synthetic", "bal. acc. (b)"), ("synthetic", "bal. acc. (c)")):
        out.append((text, lookup(m, "downstream", mode, "balanced_accuracy", "mean"),
                    lookup(w, "downstream", mode, "balanced_accuracy", "mean")))
    return out


def fig_bars7(evals: list[Evaluation], path: Path) -> Drawn | None:
    """Figure 7 analogue: each model's defined accuracies without and with style, and the paper's."""
    fig, axes = _figure(10, 3.8, 1, 2, gridspec_kw={"width_ratios": [3, 1.2]})
    ours, paper = axes[0]
    labels, without, with_ = [], [], []
    for ev in evals:
        for name, a, b in _headlines(ev.metrics):
            labels.append(f"{ev.name}\n{name}")
            without.append(np.nan if a is None else a)
            with_.append(np.nan if b is None else b)
    x = np.arange(len(labels))
    for shift, values, text in ((-0.2, without, "without style"), (0.2, with_, "with style")):
        bars = ours.bar(x + shift, values, 0.4, label=text)
        ours.bar_label(bars, labels=["n/a" if np.isnan(v) else f"{v:.2f}" for v in values], fontsize=7)
    ours.set_xticks(x)
    ours.set_xticklabels(labels, fontsize=7)
    ours.set_ylim(0, 1.15)
    ours.set_ylabel("fraction (1 = best)", fontsize=8)
    ours.set_title("ours: defined accuracies (see Table 1 for definitions)", fontsize=9)
    families = list(PAPER_TABLE1)
    px = np.arange(len(families))
    for shift, i in ((-0.2, 0), (0.2, 1)):
        paper.bar(px + shift, [PAPER_TABLE1[f]["paper_accuracy"][i] / 100 for f in families], 0.4)
    paper.set_xticks(px)
    paper.set_xticklabels(families, fontsize=7)
    paper.set_ylim(0, 1.15)
    paper.set_title("paper: undefined \"accuracy\"", fontsize=9)
    fig.legend(*ours.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=8)
    return Drawn(_save(fig, path), "Figure 7 analogue: each model without and with style transfer (left, ours: "
                                   "defined accuracies, see Table 1; right, the paper: its undefined accuracy, "
                                   "same colours)")


REPORT_FIGURES = (("bars7", fig_bars7), ("grid6", fig_grid6), ("losses", fig_losses))
RUN_FIGURES = (("samples", fig_samples), ("training_samples", fig_training_samples),
               ("distribution", fig_distribution), ("paired_examples", fig_paired_examples),
               ("paired_subjects", fig_paired_subjects), ("style_losses", fig_style_losses))


def draw(evals: list[Evaluation], folder: Path) -> dict:
    """Draw every figure the evaluations support into ``folder``: {(run name or "", key): Drawn}."""
    folder.mkdir(exist_ok=True)
    out = {}
    for key, fn in REPORT_FIGURES:
        made = fn(evals, folder / f"{key}.png")
        if made:
            out["", key] = made
    for ev in evals:
        for key, fn in RUN_FIGURES:
            made = fn(ev, folder / f"{ev.name}_{key}.png")
            if made:
                out[ev.name, key] = made
    return out
