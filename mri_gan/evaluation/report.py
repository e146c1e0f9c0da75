"""Reports of evaluated runs: metrics.json, report.md, a self-contained report.html, figures.

The report is built once as a list of blocks (headings, paragraphs, tables, figures) and written
both as Markdown (figures as files in ``figures/``) and as HTML (figures embedded as base64), so
the two say the same. Every number printed comes from metrics.json, already rounded to
``SIGNIFICANT`` digits there and printed with ``fmt``.

Table 1 follows the paper's layout (paper/NOTES.md): hyper-parameters, final losses and
"accuracy" without and with style transfer, the paper's column beside ours. The paper never
defines its accuracy, so its row has no analogue of ours; the defined quantities follow in their
own rows.
"""

from __future__ import annotations

import base64
import html
import json
import math
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mri_gan.atomic import atomic_folder
from mri_gan.errors import UserError
from mri_gan.evaluation.classifiers import DOWNSTREAM_DEFINITIONS, TWO_SAMPLE_DEFINITION
from mri_gan.evaluation.evaluate import Evaluation
from mri_gan.evaluation.metrics import PAIRED_DEFINITIONS
from mri_gan.training.runtime import describe

SIGNIFICANT = 6
PAPER_DIGITS = 6   # the paper's numbers are printed as the paper prints them
KIND_EVALUATION = "mri_gan.evaluation"
KIND_REPORT = "mri_gan.report"

#: paper/NOTES.md, Table 1, as printed in the paper
PAPER_TABLE1 = {
    "DCGAN": {"batch_size": 120, "epochs": 3750, "lr_d": 1e-4, "lr_g": 2e-4, "optimizer": "Adam",
              "d_loss": 4.2999, "g_loss": 8.2126, "paper_accuracy": [87.5, 95.6]},
    "Pix2Pix": {"batch_size": 80, "epochs": 2000, "lr_d": 1e-4, "lr_g": 2e-4, "optimizer": "Adam",
                "d_loss": 3.8712, "g_loss": 6.5682, "paper_accuracy": [89.02, 93.7]},
    "Progressive GAN": {"batch_size": 100, "epochs": 2500, "lr_d": 1e-4, "lr_g": 2e-4, "optimizer": "Adam",
                        "d_loss": 7.988, "g_loss": 9.128, "paper_accuracy": [83, 92.8]},
}
PAPER_FAMILY = {"dcgan": "DCGAN", "cdcgan": "DCGAN", "pix2pix": "Pix2Pix", "pggan": "Progressive GAN"}

ROWS = [  # key, label, definition
    ("batch_size", "batch size", "images per optimisation step"),
    ("epochs", "epochs", "paper: as printed; ours: passes over the training slices made (metrics.jsonl)"),
    ("lr_d", "D learning rate", "Adam step size of the discriminator"),
    ("lr_g", "G learning rate", "Adam step size of the generator"),
    ("optimizer", "optimiser", "paper: as printed (Adam beta_1 not given); ours: as configured"),
    ("d_loss", "final D loss", "paper: as printed (averaging not stated); ours: mean of the last 10 % of "
                               "logged values in metrics.jsonl"),
    ("g_loss", "final G loss", "as for the D loss; Pix2Pix G loss includes l1_lambda x L1"),
    ("paper_accuracy", "\"accuracy\" without / with style transfer (%)",
     "the paper's number; the paper never defines it, so it has no analogue of ours: see the defined rows"),
    ("two_sample", "two-sample accuracy without / with style (%)", TWO_SAMPLE_DEFINITION),
    ("realism", "realism without / with style (%)", "1 - 2 |two-sample accuracy - 0.5|: 100 % when the "
                                                     "classifier cannot tell real from synthetic"),
    ("downstream_real", "tumour classifier (a) real only: balanced accuracy (%)",
     DOWNSTREAM_DEFINITIONS["real"] + "; " + DOWNSTREAM_DEFINITIONS["test"]),
    ("downstream_balanced", "(b) real + synthetic: balanced accuracy without / with style (%)",
     DOWNSTREAM_DEFINITIONS["real+synthetic"]),
    ("downstream_synthetic", "(c) synthetic only: balanced accuracy without / with style (%)",
     DOWNSTREAM_DEFINITIONS["synthetic"]),
    ("fid", "FID without / with style", "Frechet distance of held-out real and synthetic activations of "
                                        "the feature network named in the run's section"),
    ("precision", "precision without / with style", "share of synthetic samples inside the real k-NN manifold"),
    ("recall", "recall without / with style", "share of real samples inside the synthetic k-NN manifold "
                                               "(low recall with high precision = mode collapse)"),
    ("ssim", "SSIM without / with style", PAIRED_DEFINITIONS["ssim"]),
    ("psnr", "PSNR (dB) without / with style", PAIRED_DEFINITIONS["psnr"]),
    ("mae", "MAE without / with style", PAIRED_DEFINITIONS["mae"]),
    ("best_baseline_ssim", "best trivial baseline: SSIM / PSNR (dB)",
     "the highest SSIM and PSNR among the identity, linear-map and mean-image baselines"),
]


# ------------------------------------------------------------------------------ numbers

def clean(value):
    """JSON-safe copy: numpy scalars and arrays to Python, floats to ``SIGNIFICANT`` digits."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [clean(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return None
        return float(f"{v:.{SIGNIFICANT}g}")
    return value


def fmt(value, digits: int = 4) -> str:
    """How a metrics.json value is printed: ``digits`` significant digits, mean ± std, a / b pairs."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, dict) and "mean" in value:
        return f"{fmt(value['mean'], digits)} ± {fmt(value.get('std'), digits)}"
    if isinstance(value, list):
        return " / ".join(fmt(v, digits) for v in value)
    return str(value)


def _pct(value):
    """A fraction (or mean / std dict) as percent, rounded to 2 decimals."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {"mean": round(100 * value["mean"], 2), "std": round(100 * value["std"], 2)}
    return round(100 * value, 2)


def _interval(two_sample: dict) -> str:
    """A two-sample test's 95 % interval of the accuracy as 'low–high' ('—' in older reports)."""
    ci = two_sample.get("ci95")
    return f"{fmt(ci[0])}–{fmt(ci[1])}" if ci else "—"


def _get(d, *keys):
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


# ------------------------------------------------------------------------------ Table 1

def _ours(m: dict) -> dict:
    """Table 1 cells of one evaluated run."""
    tr = m["run"]["training"]
    style = m.get("with_style", {})
    pair = lambda *keys, f=lambda v: v: [f(_get(m, *keys)), f(_get(style, *keys))]  # noqa: E731
    scalar = lambda v: v["mean"] if isinstance(v, dict) else v  # noqa: E731
    cells = {"batch_size": tr["batch_size"], "epochs": tr["epochs_trained"], "lr_d": tr["lr_d"],
             "lr_g": tr["lr_g"], "optimizer": tr["optimizer"], "d_loss": tr.get("final_d_loss"),
             "g_loss": tr.get("final_g_loss"), "paper_accuracy": None}
    if "paired" in m:
        for metric in ("ssim", "psnr", "mae"):
            cells[metric] = pair("paired", metric, "mean")
        rows = m["paired"].get("baselines") or {}
        if rows:
            cells["best_baseline_ssim"] = [max(r["ssim"]["mean"] for r in rows.values()),
                                           max(r["psnr"]["mean"] for r in rows.values())]
    else:
        cells["two_sample"] = pair("two_sample", "accuracy", f=_pct)
        cells["realism"] = pair("two_sample", "realism", f=_pct)
        cells["downstream_real"] = _pct(_get(m, "downstream", "real", "balanced_accuracy"))
        cells["downstream_balanced"] = pair("downstream", "real+synthetic", "balanced_accuracy", f=_pct)
        cells["downstream_synthetic"] = pair("downstream", "synthetic", "balanced_accuracy", f=_pct)
        for metric in ("fid", "precision", "recall"):
            cells[metric] = pair("distribution", metric, f=scalar)
    return cells


def table1(runs: dict[str, dict]) -> dict:
    """Table 1 as data: columns (the paper's beside ours, per model family) and rows of cells."""
    columns, cells = [], {}
    shown = set()
    for name, m in runs.items():
        family = PAPER_FAMILY[m["run"]["model"]]
        if family not in shown:
            shown.add(family)
            key = f"paper: {family}"
            columns.append({"key": key, "title": f"{family} (paper)"})
            cells[key] = PAPER_TABLE1[family]
        columns.append({"key": name, "title": f"{name} (ours, {m['run']['model']})"})
        cells[name] = _ours(m)
    rows = []
    for key, label, definition in ROWS:
        row = {c["key"]: cells[c["key"]].get(key) for c in columns}
        if any(v is not None and v != [None, None] for v in row.values()):
            rows.append({"key": key, "label": label, "definition": definition, "cells": row})
    return {"definition": "the paper's Table 1 (paper/NOTES.md) beside ours; '—' = not measured / not "
                          "applicable; a / b = without / with style transfer",
            "columns": columns, "rows": rows}


# ------------------------------------------------------------------------------ figures

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _show(ax, image, title=None):
    ax.imshow(np.clip((np.asarray(image) + 1) / 2, 0, 1), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def fig_losses(evals: list[Evaluation], path: Path) -> Path | None:
    """D and G loss curves of every run (metrics.jsonl)."""
    plt = _pyplot()
    have = [e for e in evals if e.curves.get("training", {}).get("d_loss")]
    if not have:
        return None
    fig, axes = plt.subplots(1, len(have), figsize=(4.2 * len(have), 3), squeeze=False)
    for ax, ev in zip(axes[0], have):
        tr = ev.curves["training"]
        for name, label, color in (("d_loss", "D loss", "tab:red"), ("g_loss", "G loss", "tab:blue")):
            pts = [(s, v) for s, v in zip(tr["step"], tr.get(name, [])) if v is not None]
            if pts:
                ax.plot(*zip(*pts), color=color, label=label)
        ax.set_title(f"{ev.name} ({ev.metrics['run']['model']})", fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def fig_distribution(ev: Evaluation, path: Path) -> Path | None:
    """Figure 5 analogue: real vs synthetic (and stylized) intensities and feature projections."""
    a = ev.arrays
    if "hist_real" not in a:
        return None
    plt = _pyplot()
    network = _get(ev.metrics, "distribution", "feature_network") or "n/a"
    fig, (h, p) = plt.subplots(1, 2, figsize=(9, 3.4))
    centres = (np.arange(len(a["hist_real"])) + 0.5) / len(a["hist_real"])
    for key, label, color in (("hist_real", "real held-out", "black"), ("hist_synthetic", "synthetic", "tab:blue"),
                              ("hist_stylized", "synthetic + style", "tab:orange")):
        if key in a:
            h.plot(centres, a[key], color=color, label=label)
    h.set_yscale("log")
    h.set_xlabel("intensity [0, 1]")
    h.set_ylabel("density (log)")
    h.set_title("pixel intensities", fontsize=9)
    h.legend(fontsize=8)
    for key, label, color in (("proj_real", "real held-out", "black"), ("proj_synthetic", "synthetic", "tab:blue"),
                              ("proj_stylized", "synthetic + style", "tab:orange")):
        if key in a:
            p.scatter(a[key][:, 0], a[key][:, 1], s=6, alpha=0.5, color=color, label=label)
    p.set_title(f"features: {network} (2-D PCA of the real set)", fontsize=9)
    p.tick_params(labelsize=7)
    p.legend(fontsize=8)
    fig.suptitle(f"{ev.name}: real vs synthetic — feature network {network}", fontsize=10)
    return _save(fig, path)


def fig_samples(ev: Evaluation, path: Path) -> Path | None:
    """Rows of held-out real slices, synthetic slices and (if any) synthetic + style, side by side."""
    rows = [(key, label) for key, label in (("real", "real held-out"), ("synthetic", "synthetic"),
                                            ("stylized", "synthetic + style"))
            if key in ev.arrays and len(ev.arrays[key])]
    if len(rows) < 2 or rows[0][0] != "real":
        return None
    plt = _pyplot()
    n = max(len(ev.arrays[key]) for key, _ in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.5 * n, 1.5 * len(rows) + 0.4), squeeze=False,
                             gridspec_kw={"wspace": 0.04, "hspace": 0.04})
    for r, (key, label) in enumerate(rows):
        for c in range(n):
            if c < len(ev.arrays[key]):
                _show(axes[r, c], ev.arrays[key][c])
            else:
                axes[r, c].axis("off")
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(f"{ev.name}: held-out real slices and {ev_label(ev)} samples", fontsize=10)
    return _save(fig, path)


def fig_style_losses(ev: Evaluation, path: Path) -> Path | None:
    """Content and style loss per Gatys iteration (mean over pairs)."""
    losses = ev.curves.get("style") or {}
    names = [n for n in ("content", "style") if losses.get(n)]
    if not names:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 2.8), squeeze=False)
    weights = _get(ev.metrics, "style", "vgg", "weights") or "?"
    for ax, name in zip(axes[0], names):
        values = np.asarray(losses[name], float)
        ax.plot(np.arange(len(values)), values)
        if (values > 0).all() and values.max() > 20 * values.min():
            ax.set_yscale("log")
        ax.set_title(f"{name} loss", fontsize=9)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{ev.name}: style transfer losses (VGG19 weights: {weights})", fontsize=10)
    return _save(fig, path)


def fig_paired_examples(ev: Evaluation, path: Path) -> Path | None:
    """Rows of test slices: source | prediction | prediction + style | real target | |error|."""
    a = ev.arrays
    if "prediction" not in a or not len(a["prediction"]):
        return None
    plt = _pyplot()
    cols = [("source", "input (source)"), ("prediction", "Pix2Pix"), ("stylized", "Pix2Pix + style"),
            ("target", "real target")]
    cols = [c for c in cols if c[0] in a]
    n = len(a["prediction"])
    fig, axes = plt.subplots(n, len(cols) + 1, figsize=(1.6 * (len(cols) + 1), 1.6 * n), squeeze=False)
    for r in range(n):
        for c, (key, title) in enumerate(cols):
            _show(axes[r, c], a[key][r], title if r == 0 else None)
        _show(axes[r, -1], np.abs(a["prediction"][r] - a["target"][r]) - 1.0, "|error|" if r == 0 else None)
    return _save(fig, path)


def fig_paired_subjects(ev: Evaluation, path: Path) -> Path | None:
    """SSIM and PSNR per test subject: the model beside each baseline."""
    paired = ev.metrics.get("paired")
    if not paired:
        return None
    plt = _pyplot()
    rows = {"model": paired, **(paired.get("baselines") or {})}
    if "with_style" in ev.metrics:
        rows["model + style"] = ev.metrics["with_style"]["paired"]
    subjects = sorted(paired["per_subject"])
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 1.2 * len(subjects) * len(rows) / 2), 3))
    width = 0.8 / len(rows)
    for ax, metric in zip(axes, ("ssim", "psnr")):
        for i, (name, row) in enumerate(rows.items()):
            values = [row["per_subject"].get(s, {}).get(metric, np.nan) for s in subjects]
            ax.bar(np.arange(len(subjects)) + i * width, values, width, label=name)
        ax.set_xticks(np.arange(len(subjects)) + 0.4 - width / 2)
        ax.set_xticklabels(subjects, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{metric.upper()} per test subject (brain mask)", fontsize=9)
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def fig_grid6(evals: list[Evaluation], path: Path) -> Path | None:
    """Figure 6 analogue: input | DCGAN + style, input | Pix2Pix + style (each model's own inputs)."""
    gen = next((e for e in evals if "stylized" in e.arrays and "content" in e.arrays), None)
    par = next((e for e in evals if "stylized" in e.arrays and "prediction" in e.arrays), None)
    groups = []
    if gen is not None:
        label = ev_label(gen)
        groups += [(gen.arrays["content"], f"input (real, {gen.name})"), (gen.arrays["style"], label),
                   (gen.arrays["stylized"], f"{label} + style")]
    if par is not None:
        groups += [(par.arrays["source"], f"input (source, {par.name})"), (par.arrays["prediction"], "Pix2Pix"),
                   (par.arrays["stylized"], "Pix2Pix + style")]
    if not groups:
        return None
    plt = _pyplot()
    n = min(len(g[0]) for g in groups)
    fig, axes = plt.subplots(n, len(groups), figsize=(1.7 * len(groups), 1.7 * n), squeeze=False)
    for c, (images, title) in enumerate(groups):
        for r in range(n):
            _show(axes[r, c], images[r], title if r == 0 else None)
    return _save(fig, path)


def ev_label(ev: Evaluation) -> str:
    return {"dcgan": "DCGAN", "cdcgan": "cDCGAN", "pix2pix": "Pix2Pix", "pggan": "PGGAN"}[ev.metrics["run"]["model"]]


def _headlines(m: dict) -> list[tuple[str, float | None, float | None]]:
    """(name, without, with) of the defined accuracies shown as Figure 7 bars, in [0, 1]."""
    w = m.get("with_style", {})
    if "paired" in m:
        return [("SSIM", _get(m, "paired", "ssim", "mean"), _get(w, "paired", "ssim", "mean"))]
    out = [("realism", _get(m, "two_sample", "realism"), _get(w, "two_sample", "realism"))]
    for mode, label in (("real+synthetic", "bal. acc. (b)"), ("synthetic", "bal. acc. (c)")):
        out.append((label, _get(m, "downstream", mode, "balanced_accuracy", "mean"),
                    _get(w, "downstream", mode, "balanced_accuracy", "mean")))
    return out


def fig_bars7(evals: list[Evaluation], path: Path) -> Path | None:
    """Figure 7 analogue: each model's defined accuracies without and with style, and the paper's."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 1.2]})
    labels, without, with_ = [], [], []
    for ev in evals:
        for name, a, b in _headlines(ev.metrics):
            labels.append(f"{ev.name}\n{name}")
            without.append(np.nan if a is None else a)
            with_.append(np.nan if b is None else b)
    x = np.arange(len(labels))
    for shift, values, label in ((-0.2, without, "without style"), (0.2, with_, "with style")):
        bars = axes[0].bar(x + shift, values, 0.4, label=label)
        axes[0].bar_label(bars, labels=["n/a" if np.isnan(v) else f"{v:.2f}" for v in values], fontsize=7)
    axes[0].set_xticks(x)
    axes[0].set_xticklabels(labels, fontsize=7)
    axes[0].set_ylim(0, 1.12)
    axes[0].set_title("ours: defined accuracies (see Table 1 for definitions)", fontsize=9)
    axes[0].legend(fontsize=8)
    families = list(PAPER_TABLE1)
    px = np.arange(len(families))
    axes[1].bar(px - 0.2, [PAPER_TABLE1[f]["paper_accuracy"][0] / 100 for f in families], 0.4, label="without")
    axes[1].bar(px + 0.2, [PAPER_TABLE1[f]["paper_accuracy"][1] / 100 for f in families], 0.4, label="with")
    axes[1].set_xticks(px)
    axes[1].set_xticklabels(families, fontsize=7)
    axes[1].set_ylim(0, 1.12)
    axes[1].set_title("paper: undefined \"accuracy\"", fontsize=9)
    return _save(fig, path)


REPORT_FIGURES = (
    ("bars7", fig_bars7, "Figure 7 analogue: each model without and with style transfer (ours: defined "
                         "accuracies, see Table 1; the paper: its undefined accuracy)"),
    ("grid6", fig_grid6, "Figure 6 analogue: input | DCGAN + style | Pix2Pix + style (each model with its own "
                         "inputs)"),
    ("losses", fig_losses, "D and G loss curves of every run (metrics.jsonl)"),
)
RUN_FIGURES = (
    ("samples", fig_samples, "held-out real slices (top) and synthetic slices (below; then with style, if "
                             "applied), each row spread evenly over its set"),
    ("distribution", fig_distribution, "Figure 5 analogue: pixel intensities and features, real held-out vs "
                                       "synthetic (and synthetic + style); feature network: {network}"),
    ("paired_examples", fig_paired_examples, "test slices: input, synthesized, synthesized + style, real "
                                             "target, |error|"),
    ("paired_subjects", fig_paired_subjects, "per-subject SSIM and PSNR inside the brain mask, model vs "
                                             "baselines"),
    ("style_losses", fig_style_losses, "content and style losses of the style transfer per iteration "
                                       "(VGG19 weights: {weights})"),
)


@dataclass
class Picture:
    """A PNG made by another command, shown in a section of its own after the runs (its heading,
    text and caption are kept in metrics.json's ``figures``)."""

    key: str
    path: Path
    heading: str
    text: str
    caption: str


# ------------------------------------------------------------------------------ blocks

def _runs_section(name: str, m: dict, figures: dict) -> list:
    blocks = [("h", 2, f"Run {name}")]
    run, data = m["run"], m["data"]
    tr = run["training"]
    blocks.append(("ul", [f"run directory `{run['dir']}`, model {run['model']}, task: {run['task']}",
                          f"evaluated on `{data['source']}` at {fmt(data['image_size'])} px "
                          f"({fmt(data['slices'])} slices; split subjects: "
                          + ", ".join(f"{k} {fmt(v)}" for k, v in data["subjects"].items()) + ")",
                          f"trained {fmt(tr['steps_trained'])} steps, {fmt(tr['epochs_trained'])} epochs "
                          f"(evaluated checkpoint {run.get('checkpoint')}); "
                          f"last D loss {fmt(tr.get('last_d_loss'))}, last G loss {fmt(tr.get('last_g_loss'))}",
                          f"trained with {describe(run.get('runtime', []))}",
                          f"command: `{m['command']}`"]))
    if "paired" in m:
        blocks += _paired_blocks(m)
    else:
        blocks += _generative_blocks(m)
    blocks += _style_blocks(m)
    for key, *_ in RUN_FIGURES:
        if (name, key) in figures:
            blocks.append(("fig", figures[name, key]["path"], figures[name, key]["caption"]))
    return blocks


def _paired_blocks(m: dict) -> list:
    p = m["paired"]
    lesion = "lesion_contrast" in p
    keys = ("ssim", "psnr", "mae", "nmse") + (("lesion_contrast",) if lesion else ())

    def row(name, r):
        return [name, *(fmt(r.get(k)) for k in keys), fmt(r["subjects"])]

    rows = [row("model", p)]
    styled = _get(m, "with_style", "paired")
    if styled:
        rows.append(row("model + style", styled))
    for name, r in (p.get("baselines") or {}).items():
        rows.append(row(f"baseline: {name}", r))
    blocks = [("h", 3, f"Paired fidelity: {p['task']}"),
              ("p", f"Per test subject, then mean ± std over subjects; {p['split']}; intensities {p['scale']}, "
                    f"inside the brain mask: {fmt(p['masked'])}."),
              ("table", ["", "SSIM", "PSNR (dB)", "MAE", "NMSE", *(["lesion contrast"] if lesion else []),
                         "subjects"], rows)]
    if p.get("targets"):
        blocks.append(("p", "Per imputed sequence (the others given), beside the baselines fitted for "
                            "that sequence; brain, then inside the tumour mask:"))
        for seq, t in p["targets"].items():
            blocks.append(("table", [f"{seq} from {' + '.join(t.get('given', []))}", "SSIM", "PSNR (dB)",
                                     "MAE", "tumour SSIM", "tumour PSNR (dB)", "lesion contrast"],
                           [_region_row(name, r) for name, r in
                            {"model": t, **(t.get("baselines") or {})}.items()]))
            blocks += _case_blocks(f"{seq}, per case", t.get("cases"))
    blocks += _case_blocks("per case", p.get("cases"))
    spreads = {seq: t["uncertainty"] for seq, t in (p.get("targets") or {}).items() if t.get("uncertainty")}
    if p.get("uncertainty"):
        spreads[p["task"]] = p["uncertainty"]
    if spreads:
        blocks += [("p", "Uncertainty (test-time spread) against the error, inside the brain:"),
                   ("table", ["synthesis", "Spearman", "mean |error| by spread fifth (lowest first)",
                              "top / bottom fifth", "mean spread"],
                    [[seq, fmt(u["spearman"]), " / ".join(fmt(v) for v in u["error_by_spread_fifth"]),
                      fmt(u["top_over_bottom"]), fmt(u["mean_spread"])] for seq, u in spreads.items()])]
    flags = list(p.get("below_baseline", [])) + [dict(f, style=True) for f in (styled or {}).get("below_baseline", [])]
    if flags:
        blocks.append(("p", "**Flag: the model is below a trivial baseline** on: " + "; ".join(
            f"{f['target'] + ' ' if f.get('target') else ''}{f['metric'].upper()}"
            f"{' (with style)' if f.get('style') else ''} {fmt(f['model'])} vs "
            f"{f['baseline']} {fmt(f['baseline_value'])}" for f in flags) + "."))
    elif p.get("baselines"):
        blocks.append(("p", "The model beats every trivial baseline on every metric."))
    definitions = dict(p["definitions"], **{f"baseline {k}": r["definition"] for k, r in (p.get("baselines") or {}).items()})
    blocks.append(("ul", [f"{k}: {v}" for k, v in definitions.items()]))
    return blocks


def _generative_blocks(m: dict) -> list:
    style = m.get("with_style", {})
    blocks = [("h", 3, "Distribution against the held-out real slices")]
    dist = m["distribution"]
    if "skipped" in dist:
        blocks.append(("p", f"Not computed: {dist['skipped']}"))
    else:
        network = dist["feature_network"]
        header = ["", "FID", "KID", "precision", "recall", "density", "coverage", "real / synthetic images"]
        rows = []
        for label, d in (("synthetic", dist), ("synthetic + style", style.get("distribution")),
                         ("real training images (copy of the training set)", m.get("distribution_reference"))):
            if d and "fid" in d:
                rows.append([label, fmt(d["fid"]), fmt(d["kid"]), fmt(d["precision"]), fmt(d["recall"]),
                             fmt(d["density"]), fmt(d["coverage"]), f"{fmt(d['n_real'])} / {fmt(d['n_fake'])}"])
        blocks += [("p", f"Feature network: **{network}** ({dist['definitions']['feature_network']}); k = "
                         f"{fmt(dist['k'])} neighbours; {m['split']}."),
                   ("table", header, rows),
                   ("ul", [f"{k}: {v}" for k, v in dist["definitions"].items() if k != "feature_network"]
                    + [f"real training images row: {m['distribution_reference'].get('definition', '')}",
                       f"synthetic images: {m['synthetic']['definition']}"])]
    blocks.append(("h", 3, "Two-sample test (realism)"))
    rows = []
    for label, t in (("synthetic", m["two_sample"]), ("synthetic + style", style.get("two_sample"))):
        if t and "accuracy" in t:
            rows.append([label, fmt(t["accuracy"]), _interval(t), fmt(t.get("p_value")),
                         fmt(t.get("train_accuracy")), fmt(t["realism"]), fmt(t["n_train_per_class"]),
                         fmt(t["n_test_per_class"])])
        elif t:
            rows.append([label, "—", "—", "—", "—", "—", "—", f"not computed: {t.get('skipped')}"])
    blocks += [("table", ["", "accuracy", "95 % interval", "p (accuracy > 0.5)", "training accuracy", "realism",
                          "train images per class", "test images per class"], rows),
               ("p", TWO_SAMPLE_DEFINITION + ".")]
    blocks.append(("h", 3, "Downstream tumour classifier"))
    classes = m["classes"]
    blocks.append(("p", "Classes no_tumor / tumor; training split " + " / ".join(
        fmt(classes["train"][c]) for c in ("no_tumor", "tumor")) + " slices, held-out test " + " / ".join(
        fmt(classes["held_out"][c]) for c in ("no_tumor", "tumor")) + f" slices; seeds {fmt(m['budget']['seeds'])}."))
    rows = []
    for label, source in (("", m.get("downstream", {})), (" + style", style.get("downstream", {}))):
        for mode, d in source.items():
            if label and mode == "real":
                continue
            name = {"real": "(a) real only", "real+synthetic": "(b) real + synthetic",
                    "synthetic": "(c) synthetic only"}[mode] + label
            if "skipped" in d:
                rows.append([name, "—", "—", "—", "—", "—", f"not computed: {d['skipped']}"])
            else:
                names = classes["downstream"]
                added = " / ".join(f"{names[int(c)]} {fmt(n)}" for c, n in d["synthetic_added"].items()) or "—"
                rows.append([name, *(fmt(d[k]) for k in ("accuracy", "balanced_accuracy", "f1", "roc_auc")),
                             fmt(d["n_train"]), added])
    blocks += [("table", ["training set", "accuracy", "balanced accuracy", "F1", "ROC AUC", "training images",
                          "synthetic added per class"], rows),
               ("ul", [f"{k}: {v}" for k, v in DOWNSTREAM_DEFINITIONS.items()])]
    return blocks


def _style_blocks(m: dict) -> list:
    s = m.get("style", {})
    if not s.get("applied"):
        return [("p", f"Style transfer: not applied ({s.get('reason', 'no stylized images')}).")]
    vgg = s.get("vgg", {})
    items = [f"source: {s.get('source')}", f"what it does: {s.get('definition')}",
             f"VGG19 weights: {vgg.get('weights')} ({vgg.get('file') or 'no file'})",
             f"iterations: {fmt(s.get('steps'))}"]
    caveat = ("The stylized image starts from the real source slice (the model's input): compare the rows with "
              "style to the identity baseline, which copies that input." if "paired" in m else
              "With the paper's pairing every stylized image starts from a real training-split slice: where the "
              "\"synthetic + style\" rows come close to the \"real training images\" row, the style step kept "
              "its real content and says little about the generator.")
    return [("h", 3, "Style transfer"), ("ul", items), ("p", caveat)]


def _case_blocks(title: str, cases: dict | None) -> list:
    """The BraSyn-style per-case table (volume sources), or nothing."""
    if not cases:
        return []
    keys = ("ssim_tumour", "ssim_healthy", "psnr", "mse")
    return [("p", f"BraSyn-style figures, {title} (mean ± std over {cases['model']['cases']} cases; "
                  "definition \"brasyn\" below):"),
            ("table", ["", "SSIM tumour", "SSIM healthy", "PSNR (dB)", "MSE"],
             [[name, *(fmt(r.get(k)) for k in keys)] for name, r in cases.items()])]


def _region_row(name: str, r: dict) -> list:
    """A table row: SSIM, PSNR, MAE in the brain, SSIM and PSNR inside the tumour, lesion contrast."""
    tumour = r.get("tumour") or {}
    return [name, *(fmt(r.get(k)) for k in ("ssim", "psnr", "mae")),
            *(fmt(tumour.get(k)) for k in ("ssim", "psnr")), fmt(r.get("lesion_contrast"))]


def summary(name: str, m: dict) -> str:
    """One sentence per run with its headline numbers."""
    w = m.get("with_style", {})
    if "paired" in m:
        p = m["paired"]
        text = (f"**{name}** ({p['task']}): SSIM {fmt(p['ssim']['mean'])}, PSNR {fmt(p['psnr']['mean'])} dB "
                f"over {fmt(p['subjects'])} test subjects")
        rows = p.get("baselines") or {}
        if rows:
            best = max(rows, key=lambda k: rows[k]["ssim"]["mean"])
            text += (f"; best trivial baseline {best}: SSIM {fmt(rows[best]['ssim']['mean'])}, PSNR "
                     f"{fmt(rows[best]['psnr']['mean'])} dB — "
                     + ("**below a baseline**" if p["below_baseline"] else "above every baseline"))
        if w:
            text += f"; with style transfer SSIM {fmt(w['paired']['ssim']['mean'])}"
        return text + "."
    parts = [f"**{name}** ({m['run']['task']})"]
    t, d = m["two_sample"], m["distribution"]
    if "accuracy" in t:
        parts.append(f"a real-vs-synthetic classifier is right {fmt(t['accuracy'])} of the time (95 % interval "
                     f"{_interval(t)}; realism {fmt(t['realism'])})")
    if "fid" in d:
        ref = m.get("distribution_reference", {})
        parts.append(f"FID {fmt(d['fid'])} ({d['feature_network']} features; real training images score "
                     f"{fmt(ref.get('fid'))}), precision {fmt(d['precision'])} / recall {fmt(d['recall'])}")
    down = m.get("downstream", {})
    scores = [f"{label} {fmt(down[mode]['balanced_accuracy']['mean'])}" for mode, label in
              (("real", "(a) real"), ("real+synthetic", "(b) real + synthetic"), ("synthetic", "(c) synthetic"))
              if "balanced_accuracy" in down.get(mode, {})]
    if scores:
        parts.append("tumour classifier balanced accuracy " + ", ".join(scores))
    if "two_sample" in w and "accuracy" in w["two_sample"]:
        parts.append(f"with style transfer the real-vs-synthetic accuracy is {fmt(w['two_sample']['accuracy'])}")
    return "; ".join(parts) + "."


def build_blocks(runs: dict[str, dict], table: dict, command: str, figures: dict) -> list:
    names = ", ".join(runs)
    blocks = [("h", 1, f"mri_gan evaluation: {names}"),
              ("p", f"Made by `{command}`. Every number below is in metrics.json beside its definition."),
              ("h", 2, "In short"),
              ("ul", [summary(name, m) for name, m in runs.items()]),
              ("h", 2, "Table 1, side by side with the paper"),
              ("p", table["definition"] + "."),
              ("table", ["", *(c["title"] for c in table["columns"])],
               [[r["label"], *(fmt(r["cells"][c["key"]], PAPER_DIGITS if c["key"].startswith("paper:") else 4)
                               for c in table["columns"])] for r in table["rows"]]),
              ("ul", [f"{r['label']}: {r['definition']}" for r in table["rows"]])]
    for key, *_ in REPORT_FIGURES:
        if ("", key) in figures:
            blocks.append(("fig", figures["", key]["path"], figures["", key]["caption"]))
    for name, m in runs.items():
        blocks += _runs_section(name, m, figures)
    return blocks


def _inline(text: str) -> str:
    """Markdown inline code and bold to HTML (everything else escaped)."""
    out, parts = [], text.split("`")
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
        else:
            bold = html.escape(part).split("**")
            out.append("".join(f"<strong>{b}</strong>" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)


def to_markdown(blocks: list, root: Path) -> str:
    lines = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            header, rows = block[1], block[2]
            cell = lambda t: str(t).replace("|", "\\|")  # noqa: E731
            lines += ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows] + [""]
        elif kind == "fig":
            lines += [f"![{block[2]}]({block[1].relative_to(root).as_posix()})", "", f"*{block[2]}*", ""]
    return "\n".join(lines)


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:4px 8px;"
         "text-align:left;vertical-align:top}th{background:#f3f3f3}code{background:#f5f5f5;padding:1px 3px}"
         "figure{margin:1.5em 0}img{max-width:100%}figcaption{font-style:italic;font-size:0.9em}"
         "li{margin:0.2em 0}")


def to_html(blocks: list) -> str:
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
           f"<title>{html.escape(blocks[0][2])}</title><style>{STYLE}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
        elif kind == "p":
            out.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            out.append("<table><tr>" + "".join(f"<th>{_inline(str(h))}</th>" for h in block[1]) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row) + "</tr>" for row in block[2]]
            out.append("</table>")
        elif kind == "fig":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode("ascii")
            out.append(f"<figure><img alt='{html.escape(block[2])}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{_inline(block[2])}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


# ------------------------------------------------------------------------------ files

def save_evaluation_arrays(ev: Evaluation, folder: Path) -> None:
    """What a later `mri-gan report` needs to redraw the figures: curves.json and arrays.npz."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "curves.json").write_text(json.dumps(clean(ev.curves)) + "\n")
    np.savez_compressed(folder / "arrays.npz", **{k: np.asarray(v) for k, v in ev.arrays.items()})


def _kind(folder) -> str | None:
    try:
        return json.loads((Path(folder) / "metrics.json").read_text()).get("kind")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def is_evaluation(folder) -> bool:
    """Whether ``folder`` was written by `mri-gan evaluate` or `mri-gan report` (and can be reused)."""
    return _kind(folder) in (KIND_EVALUATION, KIND_REPORT)


def _extras(folder: Path, metrics: dict) -> tuple[dict, dict]:
    """curves.json and arrays.npz of a saved evaluation; the training curves from the run's
    metrics.jsonl and no arrays (figures that need them are left out) when they are missing."""
    from mri_gan.evaluation.evaluate import training_curves

    if (folder / "curves.json").is_file():
        curves = json.loads((folder / "curves.json").read_text())
    else:
        curves = {"training": training_curves(metrics["run"]["dir"]) if Path(metrics["run"]["dir"]).is_dir() else {}}
    arrays = {}
    if (folder / "arrays.npz").is_file():
        with np.load(folder / "arrays.npz") as z:
            arrays = {k: z[k] for k in z.files}
    return curves, arrays


def load_evaluations(folder) -> list[Evaluation]:
    """The evaluations in a folder written by `mri-gan evaluate` (one) or `mri-gan report` (each run,
    from ``evaluations/<name>/``)."""
    folder = Path(folder)
    try:
        data = json.loads((folder / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(folder / "metrics.json", f"cannot read: {err}") from None
    if data.get("kind") == KIND_EVALUATION:
        metrics = {k: v for k, v in data.items() if k not in ("kind", "name", "table1", "created", "figures")}
        return [Evaluation(data.get("name", folder.name), metrics, *_extras(folder, metrics))]
    if data.get("kind") == KIND_REPORT:
        return [Evaluation(name, m, *_extras(folder / "evaluations" / name, m)) for name, m in data["runs"].items()]
    raise UserError(folder, f"not an `mri-gan evaluate` or `mri-gan report` output (kind {data.get('kind')!r})")


def _figures(evals: list[Evaluation], folder: Path) -> dict:
    """Draw every figure the evaluations support: {(run name or "", key): {"path", "caption"}}."""
    folder.mkdir(exist_ok=True)
    out = {}
    for key, fn, caption in REPORT_FIGURES:
        made = fn(evals, folder / f"{key}.png")
        if made:
            out["", key] = {"path": made, "caption": caption}
    for ev in evals:
        facts = {"network": _get(ev.metrics, "distribution", "feature_network") or "n/a",
                 "weights": _get(ev.metrics, "style", "vgg", "weights") or "n/a"}
        for key, fn, caption in RUN_FIGURES:
            made = fn(ev, folder / f"{ev.name}_{key}.png")
            if made:
                out[ev.name, key] = {"path": made, "caption": caption.format(**facts)}
    return out


def _unique_names(evals: list[Evaluation]) -> list[Evaluation]:
    seen: dict[str, int] = {}
    for ev in evals:
        base = ev.name
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            ev.name = f"{base}-{seen[base]}"
    return evals


def _pictures(pictures: list[Picture], folder: Path) -> tuple[list, list]:
    """Copy each picture into ``folder``: (its metrics.json ``figures`` entries, its blocks)."""
    entries, blocks = [], []
    for picture in pictures:
        path = folder / f"{picture.key}.png"
        shutil.copyfile(picture.path, path)
        entries.append({"run": None, "figure": picture.key, "file": f"{folder.name}/{path.name}",
                        "caption": picture.caption, "heading": picture.heading, "text": picture.text})
        blocks += [("h", 2, picture.heading), ("p", picture.text), ("fig", path, picture.caption)]
    return entries, blocks


def write_report(evals: list[Evaluation], out, command: str, pictures: list[Picture] = (),
                 overwrite: bool = False) -> Path:
    """Write OUT/metrics.json, report.md, report.html and figures/*.png (all at once, replacing an
    existing OUT only with ``overwrite``); ``pictures`` come last.

    One evaluation: metrics.json holds it at the top level (DESIGN.md's shape) with ``table1``,
    plus curves.json and arrays.npz so `mri-gan report` can reuse the folder. Several:
    ``{"kind": "mri_gan.report", "command", "runs": {name: evaluation}, "table1"}`` and
    ``evaluations/<name>/`` with each run's curves and arrays."""
    evals = _unique_names(list(evals))
    for ev in evals:
        ev.metrics = clean(ev.metrics)
    runs = {ev.name: ev.metrics for ev in evals}
    table = clean(table1(runs))
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if len(evals) == 1:
        document = {"kind": KIND_EVALUATION, "name": evals[0].name, "created": created, **evals[0].metrics,
                    "table1": table}
    else:
        document = {"kind": KIND_REPORT, "command": command, "created": created, "runs": runs, "table1": table}
    with atomic_folder(out, overwrite) as tmp:
        figures = _figures(evals, tmp / "figures")
        entries, extra = _pictures(list(pictures), tmp / "figures")
        document["figures"] = [{"run": run or None, "figure": key, "file": f["path"].relative_to(tmp).as_posix(),
                                "caption": f["caption"]} for (run, key), f in figures.items()] + entries
        blocks = build_blocks(runs, table, command, figures) + extra
        (tmp / "metrics.json").write_text(json.dumps(document, indent=1, allow_nan=False) + "\n")
        (tmp / "report.md").write_text(to_markdown(blocks, tmp))
        (tmp / "report.html").write_text(to_html(blocks))
        if len(evals) == 1:
            save_evaluation_arrays(evals[0], tmp)
        else:
            for ev in evals:
                save_evaluation_arrays(ev, tmp / "evaluations" / ev.name)
    return Path(out) / "report.html"
