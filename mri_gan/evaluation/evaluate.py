"""Evaluate one run directory against a data source: every number behind a report.

Paired runs (Pix2Pix translation or imputation) are scored against their targets and trivial
baselines (``mri_gan.evaluation.paired``); generative runs (DCGAN, cDCGAN, PGGAN) by distribution
metrics, a two-sample test and a downstream classifier against held-out subjects
(``mri_gan.evaluation.generative``). Every metric is computed again "with style transfer", on
images refined by the Gatys loop of :mod:`mri_gan.style` with the pairing of ``mri-gan stylize``
(content = a real image, style = the model's output), taken from a ``mri-gan stylize`` output or
from the loop run here with a small budget when VGG19 weights are available
(``mri_gan.evaluation.style_inputs``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mri_gan import inference
from mri_gan.data import slice_set
from mri_gan.errors import UserError
from mri_gan.evaluation import budgets
from mri_gan.evaluation.feature_networks import FEATURE_CHOICES
from mri_gan.evaluation.generative import evaluate_generative
from mri_gan.evaluation.paired import evaluate_paired
from mri_gan.evaluation.style_inputs import plan_style
from mri_gan.run_dir import BEST, RunDir

FINAL_LOSS = "mean of the logged values over the last 10 % of metrics.jsonl entries (at least one)"


@dataclass
class Evaluation:
    """One evaluated run: ``metrics`` (JSON, docs/design.md shape), ``curves`` (training and style
    losses, JSON) and ``arrays`` (example images, histograms, feature projections, for figures)."""

    name: str
    metrics: dict
    curves: dict
    arrays: dict


def training_curves(run_dir) -> dict:
    """The run's metrics.jsonl as columns: {"step": [...], name: [...]} (None where an entry lacks
    a name); {} for a run with no log."""
    entries = RunDir(run_dir).metrics()
    if not entries:
        return {}
    names = sorted({k for e in entries for k in e} - {"step"})
    return {"step": [e.get("step") for e in entries], **{k: [e.get(k) for e in entries] for k in names}}


def training_summary(cfg, curves: dict) -> dict:
    """Table 1's hyper-parameters and final losses of a run."""
    out = {"batch_size": cfg.batch_size, "epochs_configured": cfg.epochs if cfg.steps is None else None,
           "steps_configured": cfg.steps, "lr_d": cfg.lr_d, "lr_g": cfg.lr_g,
           "optimizer": f"Adam (beta_1 {cfg.beta_1:g}, beta_2 {cfg.beta_2:g})",
           "image_size": cfg.image_size, "precision": cfg.precision}
    steps = [s for s in curves.get("step", []) if s is not None]
    epochs = [e for e in curves.get("epoch", []) if e is not None]
    out["steps_trained"] = max(steps) if steps else 0
    out["epochs_trained"] = max(epochs) if epochs else 0
    for name in ("d_loss", "g_loss"):
        values = [v for v in curves.get(name, []) if v is not None]
        if values:
            tail = values[-max(1, len(values) // 10):]
            out[f"final_{name}"] = float(np.mean(tail))
            out[f"last_{name}"] = float(values[-1])
    out["definitions"] = {"final_d_loss": FINAL_LOSS, "final_g_loss": FINAL_LOSS,
                          "last_d_loss": "the last logged value", "last_g_loss": "the last logged value",
                          "epochs_trained": "passes over the training slices, from metrics.jsonl"}
    return out


def _load_data(source: str, cfg, split: dict) -> tuple[slice_set.SliceSet, bool]:
    """The slices of ``source`` and whether it is external (shares no subject with the split).

    The run's own source is never external (its subjects in no list of a given split stay
    unused). Another source that shares some subjects with the split and holds others is refused,
    the overlap named: its figures would mix seen and unseen patients."""
    data, _ = slice_set.load(source, cfg.image_size)
    if source == cfg.data:
        return data, False
    known = set(np.unique(data.subjects).tolist())
    listed = {s for part in split.values() for s in part}
    shared = known & listed
    if not shared:
        if cfg.generative:
            raise UserError(source, f"holds none of the run's {len(listed)} subjects (split.json); a "
                                    f"generative run is evaluated on its own source ({cfg.data})")
        return data, True
    if shared != known:
        names = sorted(shared)
        raise UserError(source, f"shares {len(shared)} subject(s) with the run's split ({', '.join(names[:5])}"
                                f"{', ...' if len(names) > 5 else ''}) and holds {len(known - shared)} others; "
                                f"evaluate on a source of only new subjects, or on the run's own")
    return data, False


def _checkpoint_name(path: str | None) -> str | None:
    """best/ckpt-N or ckpt-N from a checkpoint prefix."""
    if not path:
        return None
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.parent.name == BEST else path.name


def evaluate_run(run_dir, source: str | None = None, stylized=None, feature_network: str = "auto",
                 budget="small", vgg_weights: str = "auto", seed: int = 0, command: str | None = None,
                 name: str | None = None, checkpoint: str = "best") -> Evaluation:
    """Evaluate one run directory (see the module docstring); ``source`` defaults to the run's data;
    ``checkpoint``: the best by validation where the run kept one, or "latest"."""
    run_dir = Path(run_dir)
    run = RunDir(run_dir)
    cfg, meta = run.load()
    budget = budgets.resolve_budget(budget)
    if feature_network not in FEATURE_CHOICES:
        raise UserError("--feature-network", f"unknown feature network {feature_network!r} "
                                             f"(known: {', '.join(FEATURE_CHOICES)})")
    split = run.split()
    source = source or cfg.data
    plan = plan_style(stylized, vgg_weights)
    data, external = _load_data(source, cfg, split)
    task = inference.load_task(run_dir, checkpoint)
    curves = {"training": training_curves(run_dir)}
    if cfg.generative:
        results, arrays, style_losses = evaluate_generative(task, cfg, data, split, budget, plan, seed,
                                                            feature_network, vgg_weights)
    else:
        if external:
            test, train = data, _load_data(cfg.data, cfg, split)[0].of_subjects(split["train"])
        else:
            test, train = data.of_subjects(split["test"]), data.of_subjects(split["train"])
        results, arrays, style_losses = evaluate_paired(task, cfg, test, train, budget, plan, seed, source,
                                                        external)
    curves["style"] = style_losses
    out = {
        "command": command or f"evaluate_run({str(run_dir)!r})",
        "run": {"dir": str(run_dir), "model": cfg.model, "data": cfg.data,
                "task": (f"{cfg.model} generating {', '.join(cfg.family.sequences)}" if cfg.generative else
                         results["paired"]["task"]),
                "label_names": meta.get("label_names", []),
                "checkpoint": _checkpoint_name(task.checkpoint),
                "checkpoint_definition": "the checkpoint evaluated: best/ckpt-N is the best by "
                                         "validation, ckpt-N the newest (N is the training step)",
                "training": training_summary(cfg, curves["training"]),
                "runtime": meta.get("runtime", [])},
        "data": {"source": source, "kind": data.kind, "slices": len(data), "image_size": cfg.image_size,
                 "subjects": {k: len(v) for k, v in split.items()}},
        "budget": {**asdict(budget), "seed": seed, "definition": budgets.DEFINITION},
        **results,
    }
    return Evaluation(name or run_dir.name, out, curves, arrays)
