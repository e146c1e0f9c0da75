"""Numbers of a report: JSON-safe rounding, how values are printed, and the paper's Table 1 beside ours.

Table 1 follows the paper's layout: hyper-parameters, final losses and "accuracy" without and with
style transfer, the paper's column beside ours. The paper never defines its accuracy, so its row
has no analogue of ours; the defined quantities follow in their own rows.
"""

from __future__ import annotations

import math

import numpy as np

from mri_gan.evaluation.classifiers import DOWNSTREAM_DEFINITIONS, TWO_SAMPLE_DEFINITION
from mri_gan.evaluation.metrics import PAIRED_DEFINITIONS
from mri_gan.paper_table import PAPER_FAMILY, PAPER_TABLE1

SIGNIFICANT = 6
PAPER_DIGITS = 6   # the paper's numbers are printed as the paper prints them

MODEL_LABEL = {"dcgan": "DCGAN", "cdcgan": "cDCGAN", "pix2pix": "Pix2Pix", "pggan": "PGGAN"}

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


def pct(value):
    """A fraction (or mean / std dict) as percent, rounded to 2 decimals."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {"mean": round(100 * value["mean"], 2), "std": round(100 * value["std"], 2)}
    return round(100 * value, 2)


def percent(value) -> str:
    """A fraction printed as a percentage: 0.9375 -> '93.75 %'."""
    return f"{fmt(pct(value))} %"


def interval(two_sample: dict) -> str:
    """A two-sample test's 95 % interval of the accuracy as 'low–high' ('—' in older reports)."""
    ci = two_sample.get("ci95")
    return f"{fmt(ci[0])}–{fmt(ci[1])}" if ci else "—"


def lookup(d, *keys):
    """``d[k1][k2]...``, or None where a key is missing."""
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _ours(m: dict) -> dict:
    """Table 1 cells of one evaluated run."""
    tr = m["run"]["training"]
    style = m.get("with_style", {})

    def pair(*keys, f=lambda v: v):
        return [f(lookup(m, *keys)), f(lookup(style, *keys))]

    def scalar(v):
        return v["mean"] if isinstance(v, dict) else v

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
        cells["two_sample"] = pair("two_sample", "accuracy", f=pct)
        cells["realism"] = pair("two_sample", "realism", f=pct)
        cells["downstream_real"] = pct(lookup(m, "downstream", "real", "balanced_accuracy"))
        cells["downstream_balanced"] = pair("downstream", "real+synthetic", "balanced_accuracy", f=pct)
        cells["downstream_synthetic"] = pair("downstream", "synthetic", "balanced_accuracy", f=pct)
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
    return {"definition": "the paper's Table 1 (Chithra & Dhivya) beside ours; '—' = not measured / not "
                          "applicable; a / b = without / with style transfer",
            "columns": columns, "rows": rows}
