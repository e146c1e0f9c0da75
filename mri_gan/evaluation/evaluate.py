"""Evaluate one run directory against a data source: every number behind a report.

Paired models (Pix2Pix translation or imputation), on the run's test subjects (split.json):
SSIM / PSNR / MAE / NMSE inside the brain mask per subject, then mean and std over subjects
(``metrics.paired_metrics``), beside the trivial baselines of TARGETS.md (identity, global
linear map, mean training image); every metric on which the model is worse than a baseline is
flagged.

Generative models (DCGAN, cDCGAN, PGGAN), against the real held-out subjects (val + test of
split.json; a generative run trains on neither):

- distribution: FID, KID, precision / recall / density / coverage through a named feature
  network, and the same numbers for the real training images (what copying the training set
  would score, the floor of any synthetic set);
- two-sample test: real vs synthetic, trained on training subjects, tested on held-out ones;
- downstream: a tumour / no-tumour classifier trained (a) on the real imbalanced training split,
  (b) on it plus synthetic images that balance the classes, (c) on synthetic images only, tested
  on the held-out real images, over several seeds.

Every metric is computed again "with style transfer", on images refined by the Gatys loop of
:mod:`mri_gan.style` with the pairing of ``mri-gan stylize`` (content = a real image, style = the
model's output): for generative runs the content is a real training-split image of the same
class; for paired runs it is the slice's real source image (the model's input) and the result is
edge-smoothed. The stylized images come from a ``mri-gan stylize`` output (``stylized``) or from
the loop run here with a small budget when VGG19 weights are available.
"""

from __future__ import annotations

import json
import os
import shlex
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mri_gan import inference, synthesis
from mri_gan.data import preprocess, slice_set
from mri_gan.data.records import SEQUENCES, binary_label
from mri_gan.data.split import load_split
from mri_gan.errors import UserError
from mri_gan.evaluation import baselines, classifiers, metrics, uncertainty

#: data kinds whose subjects are volumes (per-case 3-D figures)
VOLUME_KINDS = ("brats",)
HIGHER_IS_BETTER = {"ssim": True, "psnr": True, "mae": False, "nmse": False}
FEATURE_CHOICES = ("auto", "inception", "vgg19-mri", "classifier")
PAIRED_STYLE_SIGMA = 1.0   # the edge smoothing stylize applies to Pix2Pix output
HIST_BINS = 64

DEFINITIONS = {
    "held_out": "real slices of the val and test subjects of the run's split.json (never trained on)",
    "test": "real slices of the test subjects of the run's split.json",
    "external": "real slices of every subject of a source that shares no subject with the run's "
                "split.json (train on one site, test on another); baselines fitted on the run's "
                "training split",
    "style_generative": "Gatys style transfer (mri_gan.style.transfer): the image starts from a real "
                        "training-split slice of the same class (content) and moves toward the Gram "
                        "statistics of a generated image (style)",
    "style_paired": "Gatys style transfer: content = the slice's real source image (the model's input), "
                    "style = the model's prediction for it, then Gaussian edge smoothing",
    "style_stylize": "Gatys style transfer by `mri-gan stylize` (content images, pairing and weights as its "
                     "style_info.json records them)",
    "final_loss": "mean of the logged values over the last 10 % of metrics.jsonl entries (at least one)",
    "distribution_reference": "the same distribution metrics for real training-split images against the "
                              "held-out ones: what copying the training set would score",
    "budget": "per_class: least synthetic images per tumour class; style_steps / style_images: Gatys "
              "iterations and most images stylized by the loop run here; seeds: of the downstream classifier; "
              "classifier: epochs, batch size, filters, learning rate and least optimisation steps of the "
              "downstream and feature CNNs; two_sample: the same for the real-vs-synthetic CNN; "
              "kid_subsets: random subsets behind KID",
    "below_baseline": "metrics on which the model is worse than a trivial baseline (a model below a "
                      "baseline has learned nothing useful)",
}


@dataclass(frozen=True)
class Budget:
    """How much evaluation to do: synthetic images, style steps, classifier training, seeds."""

    name: str
    per_class: int                  # least synthetic images per tumour / no-tumour class (x2 unconditional)
    style_steps: int                # Gatys iterations when evaluate runs the loop itself
    style_images: int               # most images stylized when evaluate runs the loop itself
    seeds: tuple[int, ...]          # downstream classifier seeds
    classifier: classifiers.Budget = field(default_factory=classifiers.Budget)
    kid_subsets: int = 50
    # real vs synthetic: trained until it fits its training images, or a near-0.5 accuracy proves nothing
    two_sample: classifiers.Budget = field(
        default_factory=lambda: classifiers.Budget(epochs=30, filters=32, min_steps=2000))


BUDGETS = {
    "smoke": Budget("smoke", per_class=12, style_steps=2, style_images=24, seeds=(0, 1, 2),
                    classifier=classifiers.Budget(epochs=1, batch_size=16, filters=4), kid_subsets=5,
                    two_sample=classifiers.Budget(epochs=1, batch_size=16, filters=4)),
    "small": Budget("small", per_class=128, style_steps=20, style_images=256, seeds=(0, 1, 2),
                    classifier=classifiers.Budget(epochs=5, min_steps=300)),
    "full": Budget("full", per_class=512, style_steps=100, style_images=1024, seeds=(0, 1, 2, 3, 4),
                   classifier=classifiers.Budget(epochs=10, min_steps=600), kid_subsets=100,
                   two_sample=classifiers.Budget(epochs=60, filters=32, min_steps=4000)),
}


@dataclass
class Evaluation:
    """One evaluated run: ``metrics`` (JSON, DESIGN.md shape), ``curves`` (training and style
    losses, JSON) and ``arrays`` (example images, histograms, feature projections, for figures)."""

    name: str
    metrics: dict
    curves: dict
    arrays: dict


def resolve_budget(budget) -> Budget:
    if isinstance(budget, Budget):
        return budget
    if budget not in BUDGETS:
        raise UserError("--budget", f"unknown budget {budget!r} (known: {', '.join(BUDGETS)})")
    return BUDGETS[budget]


def command_of(name: str, args) -> str:
    """The command line of a parsed ``mri-gan NAME`` invocation (defaults spelled out), for "the
    command that produced it"."""
    parts = ["mri-gan", name]
    for key, value in vars(args).items():
        if key in ("func", "command") or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return " ".join(shlex.quote(p) for p in parts)


# ------------------------------------------------------------------------------ run facts

def training_curves(run_dir: Path) -> dict:
    """metrics.jsonl as columns: {"step": [...], name: [...]} (None where an entry lacks a name)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return {}
    entries = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise UserError(path, f"line {n} is not JSON: {err}") from None
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
    out["definitions"] = {"final_d_loss": DEFINITIONS["final_loss"], "final_g_loss": DEFINITIONS["final_loss"],
                          "last_d_loss": "the last logged value", "last_g_loss": "the last logged value",
                          "epochs_trained": "passes over the training slices, from metrics.jsonl"}
    return out


def _load_data(source: str, cfg, split: dict) -> tuple[slice_set.SliceSet, bool]:
    """The slices of ``source`` and whether it is external (shares no subject with the split).

    A source that shares some subjects with the split and holds others is refused, the overlap
    named: its figures would mix seen and unseen patients."""
    data, _ = slice_set.load(source, cfg.image_size)
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


# ------------------------------------------------------------------------------ style transfer

@dataclass
class StylePlan:
    """Where stylized images come from: a stylize output folder, the loop here, or nowhere."""

    folder: Path | None = None
    weights: str | None = None   # --vgg-weights for the loop here; None: style transfer not run
    reason: str = ""


def plan_style(stylized, vgg_weights: str = "auto") -> StylePlan:
    """Choose the style source: ``stylized`` (a stylize output) wins; else the loop with weights that
    exist locally (never a download): ImageNet in the Keras cache, MRI weights, or a path."""
    from mri_gan.style import vgg

    if stylized is not None:
        folder = Path(stylized)
        if not (folder / "stylized.npz").is_file():
            raise UserError(folder, "not a `mri-gan stylize` output (stylized.npz missing)")
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


def _run_style(content: np.ndarray, style: np.ndarray, weights: str, steps: int, seed: int,
               sigma: float = 0.0) -> tuple[np.ndarray, dict, dict]:
    """Stylize pairs here: (images [N, H, W, 1], mean losses per iteration, settings)."""
    from mri_gan.style import transfer, vgg

    extractor, info = vgg.feature_extractor(weights, seed=seed)
    loop = transfer.StyleTransfer(extractor)
    result = transfer.stylize(loop, content.astype(np.float32), style.astype(np.float32), steps)
    images = transfer.smooth_edges(result.images, sigma).astype(np.float32)
    settings = {"source": "the loop run by evaluate", "vgg": info, "steps": steps, "pairs": len(style),
                "alpha": loop.alpha, "beta": loop.beta, "gamma": loop.gamma,
                "learning_rate": loop.learning_rate, "optimizer": loop.optimizer, "smooth_sigma": sigma}
    return images, result.mean_history(), settings


def _read_stylized(folder: Path, size: int) -> tuple[dict, dict, dict]:
    """A stylize output: arrays (stylized, content, style [N, size, size, 1]), losses, settings."""
    from mri_gan.data.preprocess import resize_image

    try:
        with np.load(folder / "stylized.npz") as data:
            arrays = {k: np.asarray(data[k], np.float32) for k in ("stylized", "content", "style")}
            arrays["style_index"] = np.asarray(data["style_index"])
    except (OSError, ValueError, KeyError) as err:
        raise UserError(folder / "stylized.npz", f"cannot read stylized images: {err}") from None
    for key in ("stylized", "content", "style"):
        images = arrays[key][..., :1]
        if images.shape[1:3] != (size, size):
            images = np.stack([resize_image(img, size) for img in images[..., 0]])[..., None]
        arrays[key] = images
    losses, settings = {}, {}
    for name, target in (("losses.json", losses), ("style_info.json", settings)):
        if (folder / name).is_file():
            try:
                target.update(json.loads((folder / name).read_text()))
            except json.JSONDecodeError as err:
                raise UserError(folder / name, f"not valid JSON: {err}") from None
    losses = {k: v for k, v in losses.items() if isinstance(v, list)}
    settings = {"source": f"mri-gan stylize output {folder}", **settings}
    return arrays, losses, settings


def _stylized_labels(settings: dict, style_index: np.ndarray) -> np.ndarray | None:
    """Class indices of a stylize output's images when its style input was a generate output."""
    given = settings.get("style", {}).get("input")
    if not given:
        return None
    path = Path(str(given))
    path = path if path.name == "samples.npz" else path / "samples.npz"
    if not path.is_file():
        return None
    with np.load(path) as data:
        if "labels" not in data:
            return None
        labels = np.asarray(data["labels"])
    if style_index.max(initial=-1) >= len(labels):
        return None
    return labels[style_index].astype(np.int32)


# ------------------------------------------------------------------------------ paired runs

def _paired_questions(task, data: slice_set.SliceSet) -> list[tuple[str, np.ndarray, list[str]]]:
    """(target, rows, baseline source sequences) of every question the data can answer: the
    run's target from its sources (translation), or each sequence from the others (imputation;
    the baselines use the other sequences present in every row, the model all that are given)."""
    if not task.imputation:
        rows = np.flatnonzero(data.has(task.sources + [task.target]))
        return [(task.target, rows, list(task.sources))] if len(rows) else []
    out = []
    for c, seq in enumerate(SEQUENCES):
        others = [s for s in SEQUENCES if s != seq]
        rows = np.flatnonzero(data.available[:, c] & data.available[:, [SEQUENCES.index(s) for s in others]].any(axis=1))
        if not len(rows):
            continue
        common = [s for s in others if data.has([s])[rows].all()]
        if not common:  # keep the rows of the most available other sequence
            best = max(others, key=lambda s: int(data.has([s])[rows].sum()))
            rows, common = rows[data.has([best])[rows]], [best]
        out.append((seq, rows, common))
    return out


def _paired_parts(task, data: slice_set.SliceSet, predict: bool = True, samples: int = 0) -> list[dict]:
    """Per question: target images, sources, masks, subjects (and the model's predictions, with
    ``samples`` >= 2 the calibration of their test-time spread: ``uncertainty.calibration``)."""
    parts = []
    for seq, rows, sources in _paired_questions(task, data):
        sub = data.subset(rows)
        part = dict(target_name=seq, source_names=sources, target=sub.channels([seq])[..., 0],
                    source=sub.channels(sources), mask=sub.brain_mask, subjects=sub.subjects,
                    lesion=sub.tumor_mask, slice_index=sub.slice_index)
        if predict:
            pred01, spread = synthesis.predict_with_spread(synthesis.task_translator(task), sub.images,
                                                           sub.available, seq, samples=samples)
            part["pred"] = preprocess.to_model_range(pred01)
            if spread is not None:
                part["calibration"] = uncertainty.calibration(spread, pred01 - metrics.to_unit_range(part["target"]),
                                                              sub.brain_mask)
        parts.append(part)
    return parts


def _below(model: dict, rows: dict[str, dict]) -> list[dict]:
    """Metrics on which the model's mean is worse than a baseline's, in the brain and (where both
    have it) inside the tumour (metric ``tumour ssim``, ...)."""
    flags = []
    for name, row in rows.items():
        for region, m_row, b_row in (("", model, row), ("tumour ", model.get("tumour"), row.get("tumour"))):
            if not m_row or not b_row:
                continue
            for metric, higher in HIGHER_IS_BETTER.items():
                m, b = m_row[metric]["mean"], b_row[metric]["mean"]
                if (m < b) if higher else (m > b):
                    flags.append({"baseline": name, "metric": region + metric, "model": m,
                                  "baseline_value": b})
    return flags


def _baseline_rows(task, train: slice_set.SliceSet, test_parts: list[dict]) -> tuple[dict, list[dict], list[dict]]:
    """Paired metrics of each baseline (fitted on the training split) on the test questions,
    pooled over them (the rows every question has), and per question (with the per-source rows
    of questions with several sources), and the predictions per question; ({}, [], []) when the
    training split cannot fit them for every question."""
    fits = {(p["target_name"], tuple(p["source_names"])): p for p in _paired_parts(task, train, False)}
    keys = [(p["target_name"], tuple(p["source_names"])) for p in test_parts]
    if not all(k in fits for k in keys):
        return {}, [], []
    preds = []
    for part, key in zip(test_parts, keys):
        fit = fits[key]
        preds.append(baselines.baseline_predictions(fit["source"], fit["target"], fit["mask"],
                                                    part["source"], part["source_names"]))

    def score(names, parts, part_preds):
        cat = lambda key: np.concatenate([p[key] for p in parts])  # noqa: E731
        return {name: dict(metrics.paired_metrics(np.concatenate([pp[name] for pp in part_preds]),
                                                  cat("target"), cat("mask"), cat("subjects"),
                                                  lesion=cat("lesion")),
                           definition=baselines.definition(name)) for name in names}

    common = [n for n in preds[0] if all(n in pp for pp in preds)]
    per_question = [score(list(pp), [part], [pp]) for part, pp in zip(test_parts, preds)]
    pooled = per_question[0] if len(test_parts) == 1 else score(common, test_parts, preds)
    return pooled, per_question, preds


def _case_figures(part: dict, predictions: dict[str, np.ndarray]) -> dict:
    """BraSyn-style per-case figures (``metrics.brasyn_case_metrics``) of each prediction of one
    question: every case's slices stacked in slice order as a volume; mean and std over cases,
    and the model's figures per case."""
    rows: dict[str, dict] = {}
    for name, pred in predictions.items():
        per_case = {}
        for case in sorted(set(part["subjects"])):
            idx = np.flatnonzero(part["subjects"] == case)
            idx = idx[np.argsort(part["slice_index"][idx])]
            unit = lambda a: metrics.to_unit_range(a[idx])  # noqa: E731
            per_case[case] = metrics.brasyn_case_metrics(unit(pred), unit(part["target"]), part["mask"][idx],
                                                         part["lesion"][idx])
        summary = {}
        for key in ("ssim_tumour", "ssim_healthy", "psnr", "mse"):
            values = [c[key] for c in per_case.values() if c[key] is not None]
            summary[key] = {"mean": float(np.mean(values)), "std": float(np.std(values))} if values else None
        rows[name] = dict(summary, cases=len(per_case), **({"per_case": per_case} if name == "model" else {}))
    return rows


def _examples(n: int, count: int = 6) -> np.ndarray:
    """Up to ``count`` indices spread evenly over n items."""
    return np.unique(np.linspace(0, n - 1, min(n, count)).round().astype(int)) if n else np.zeros(0, int)


def _evaluate_paired(task, cfg, data, split, budget: Budget, plan: StylePlan, seed: int, source: str,
                     external: bool = False):
    if external:
        test, train = data, _load_data(cfg.data, cfg, split)[0].of_subjects(split["train"])
    else:
        test, train = data.of_subjects(split["test"]), data.of_subjects(split["train"])
    parts = _paired_parts(task, test, samples=synthesis.SAMPLES)
    if not parts:
        held = f"{len(set(test.subjects))} subject(s) of {source}" if external else \
            f"the run's {len(split['test'])} test subject(s)"
        raise UserError(source, f"no slice of {held} has the sequences {', '.join(task.sources)} and "
                                f"{task.target}")
    cat = lambda key: np.concatenate([p[key] for p in parts])  # noqa: E731
    pred, target, mask, subjects, lesion = (cat(k) for k in ("pred", "target", "mask", "subjects",
                                                             "lesion"))
    content = np.concatenate([p["source"][..., :1] for p in parts])
    paired = metrics.paired_metrics(pred, target, mask, subjects, lesion=lesion)
    paired["task"] = (f"{' + '.join(task.sources)} -> {task.target}" if not task.imputation else
                      "imputation: each sequence from the others, leave-one-out, pooled")
    paired["split"] = DEFINITIONS["external" if external else "test"]
    paired["external"] = external
    rows, per_question, baseline_preds = _baseline_rows(task, train, parts)
    volumes = data.kind in VOLUME_KINDS
    if task.imputation:
        paired["targets"] = {}
        for i, p in enumerate(parts):
            scores = metrics.paired_metrics(p["pred"], p["target"], p["mask"], p["subjects"], lesion=p["lesion"])
            scores["given"] = p["source_names"]
            scores["uncertainty"] = p["calibration"]
            if per_question:
                scores["baselines"] = per_question[i]
                scores["below_baseline"] = _below(scores, per_question[i])
            if volumes:
                scores["cases"] = _case_figures(p, {"model": p["pred"],
                                                    **(baseline_preds[i] if baseline_preds else {})})
            paired["targets"][p["target_name"]] = scores
    else:
        paired["uncertainty"] = parts[0]["calibration"]
    if volumes and not task.imputation:
        paired["cases"] = _case_figures(parts[0], {"model": parts[0]["pred"],
                                                   **(baseline_preds[0] if baseline_preds else {})})
    paired["definitions"]["uncertainty"] = uncertainty.DEFINITION
    if volumes:
        paired["definitions"].update(metrics.BRASYN_DEFINITIONS)
    paired["baselines"] = rows
    paired["below_baseline"] = _below(paired, rows) + [
        dict(flag, target=seq) for seq, t in paired.get("targets", {}).items() for flag in t.get("below_baseline", [])]
    paired["definitions"]["below_baseline"] = DEFINITIONS["below_baseline"]
    out = {"paired": paired}
    arrays = {"source": content[..., 0], "prediction": pred, "target": target}
    pick = _examples(len(pred))
    style_losses: dict = {}
    if plan.folder is not None:
        styled, style_losses, settings = _read_stylized(plan.folder, cfg.image_size)
        if len(styled["stylized"]) != len(pred):
            raise UserError(plan.folder, f"holds {len(styled['stylized'])} stylized images; a paired run needs "
                                         f"one per test slice in evaluation order ({len(pred)})")
        stylized = styled["stylized"][..., 0]
    elif plan.weights is not None:
        images, style_losses, settings = _run_style(content, pred[..., None], plan.weights, budget.style_steps,
                                                    seed, PAIRED_STYLE_SIGMA)
        stylized = images[..., 0]
    else:
        stylized, settings = None, {"reason": plan.reason}
    settings["definition"] = DEFINITIONS["style_stylize" if plan.folder is not None else "style_paired"]
    out["style"] = dict(settings, applied=stylized is not None)
    if stylized is not None:
        styled_metrics = metrics.paired_metrics(stylized, target, mask, subjects, lesion=lesion)
        styled_metrics["below_baseline"] = _below(styled_metrics, rows)
        out["with_style"] = {"paired": styled_metrics}
        arrays["stylized"] = stylized
    arrays = {k: v[pick].astype(np.float32) for k, v in arrays.items()}
    return out, arrays, style_losses


# ------------------------------------------------------------------------------ generative runs

def _binary_index(name: str) -> int:
    return ["no_tumor", "tumor"].index(binary_label(name))


@dataclass
class Synthetic:
    """Generated images [P, H, W, 1] with run-class labels (-1 unconditional) and tumour /
    no-tumour labels (-1 unknown)."""

    images: np.ndarray
    run_labels: np.ndarray
    binary: np.ndarray

    def take(self, index) -> "Synthetic":
        return Synthetic(self.images[index], self.run_labels[index], self.binary[index])


def _synthetic_pool(task, per_binary: dict[int, int], unconditional: int, seed: int) -> Synthetic:
    """Generate ``per_binary[b]`` images of tumour class b (shared by the run classes that map to
    it), or ``unconditional`` images without class."""
    rng = np.random.default_rng([seed, 21])
    n_classes = int(getattr(task, "num_classes", 0) or 0)
    if not n_classes:
        images = task.generate(task.noise(rng, unconditional), None)
        return Synthetic(images[..., :1], np.full(unconditional, -1, np.int32), np.full(unconditional, -1, np.int32))
    groups = [_binary_index(n) for n in task.meta["label_names"]]
    counts = [max(1, -(-per_binary.get(g, 0) // groups.count(g))) for g in groups]
    labels = np.repeat(np.arange(n_classes, dtype=np.int32), counts)
    images = task.generate(task.noise(rng, len(labels)), labels)
    return Synthetic(images[..., :1], labels, np.array([groups[c] for c in labels], np.int32))


def _capped(synthetic: Synthetic, cap: int) -> np.ndarray:
    """At most ``cap`` indices, shared evenly by the tumour classes (the first of each class)."""
    if len(synthetic.images) <= cap:
        return np.arange(len(synthetic.images))
    classes = np.unique(synthetic.binary)
    share = -(-cap // len(classes))
    return np.sort(np.concatenate([np.flatnonzero(synthetic.binary == c)[:share] for c in classes]))[:cap]


def _balanced_subset(labels: np.ndarray) -> np.ndarray:
    """Indices with the same count of every class present (the first of each)."""
    classes = np.unique(labels[labels >= 0])
    n = min(int((labels == c).sum()) for c in classes)
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:n] for c in classes]))


def _matched(pool_labels: np.ndarray, real_labels: np.ndarray, seed: int) -> np.ndarray:
    """Pool indices whose class shares follow the real set's (all indices when unconditional)."""
    if (pool_labels < 0).all() or (real_labels < 0).all():
        return np.arange(len(pool_labels))
    classes = np.unique(real_labels[real_labels >= 0])
    share = np.array([(real_labels == c).mean() for c in classes])
    have = np.array([(pool_labels == c).sum() for c in classes])
    scale = min(have[share > 0] / share[share > 0])
    rng = np.random.default_rng([seed, 23])
    picks = [rng.permutation(np.flatnonzero(pool_labels == c))[:int(round(scale * s))]
             for c, s in zip(classes, share)]
    return np.sort(np.concatenate(picks)).astype(int)


def _feature_fn(name: str, vgg_weights: str, train_x, train_y, seed: int, budget: Budget):
    """(activation function, network name, description) for the distribution metrics."""
    import keras

    from mri_gan.style import vgg

    if name == "auto":
        home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
        if (home / "models" / metrics.INCEPTION_WEIGHTS).is_file():
            name = "inception"
        elif _vgg_folder(vgg_weights) is not None or (vgg.MRI_DIR / vgg.MRI_WEIGHTS).is_file():
            name = "vgg19-mri"
        else:
            name = "classifier"
    if name == "vgg19-mri":
        folder = _vgg_folder(vgg_weights)
        model, info = vgg.feature_extractor(str(folder) if folder else "mri", layers=(metrics.VGG_LAYER,))
        run = lambda batch: keras.ops.mean(model(batch, training=False)[metrics.VGG_LAYER], axis=(1, 2))  # noqa: E731
        return run, name, f"{metrics.FEATURE_NETWORKS[name]}; weights {info.get('file')}"
    if name == "classifier":
        labelled = train_y >= 0
        model = classifiers.train_feature_classifier(train_x[labelled], train_y[labelled], seed, budget.classifier)
        return metrics.feature_network(name, model), name, metrics.FEATURE_NETWORKS[name]
    if name not in metrics.FEATURE_NETWORKS:
        raise UserError("--feature-network", f"unknown feature network {name!r} (known: {', '.join(FEATURE_CHOICES)})")
    return metrics.feature_network(name), name, metrics.FEATURE_NETWORKS[name]


def _vgg_folder(vgg_weights: str) -> Path | None:
    """A pretrain-vgg folder given as --vgg-weights PATH, else None."""
    from mri_gan.style import vgg

    path = Path(str(vgg_weights)).expanduser()
    return path if str(vgg_weights) not in vgg.WEIGHT_CHOICES + ("none",) and path.is_dir() else None


def _projection(reference: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """2-D PCA coordinates (axes fitted on ``reference``) of each activation set."""
    mean = reference.mean(axis=0)
    _, _, vt = np.linalg.svd(reference - mean, full_matrices=False)
    axes = vt[:2].T
    return [((a - mean) @ axes).astype(np.float32) for a in (reference, *others)]


def _histogram(images: np.ndarray) -> np.ndarray:
    """Density of [0, 1] intensities over all pixels in HIST_BINS bins."""
    values = metrics.to_unit_range(images).ravel()
    counts, _ = np.histogram(values, bins=HIST_BINS, range=(0.0, 1.0), density=True)
    return counts.astype(np.float32)


def _safe(fn, *args, **kwargs) -> dict:
    """A metric, or {"skipped": reason} when the data cannot support it (singular-covariance warnings
    of FID on fewer samples than features are expected and silenced)."""
    from scipy.linalg import LinAlgWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LinAlgWarning)
            return fn(*args, **kwargs)
    except (UserError, ValueError) as err:
        return {"skipped": str(err)}


def _generative_metrics(real: dict, fake: Synthetic, run_held: np.ndarray, feature, budget: Budget,
                        seed: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Distribution, two-sample and downstream metrics of one synthetic set; also the held-out
    and synthetic activations and the indices of the class-matched synthetic images."""
    run, net_name, net_desc = feature
    matched = _matched(fake.run_labels, run_held, seed)
    fake_m = fake.images[matched]
    act_real = metrics.feature_activations(real["held"], run)
    act_fake = metrics.feature_activations(fake_m, run)
    k = max(1, min(5, len(act_real) - 1, len(act_fake) - 1))
    dist = _safe(metrics.compare_activations, act_real, act_fake, net_name, k=k,
                 kid_subsets=budget.kid_subsets, seed=seed)
    if "definitions" in dist:
        dist["definitions"]["feature_network"] = net_desc
    half = np.arange(len(fake_m)) % 2
    two = _safe(classifiers.two_sample_test, real["train"], fake_m[half == 0], real["held"], fake_m[half == 1],
                seed=seed, budget=budget.two_sample)
    train_ok, held_ok = real["train_y"] >= 0, real["held_y"] >= 0
    labelled = np.flatnonzero(fake.binary >= 0)
    down = {}
    for mode in ("real", "real+synthetic", "synthetic"):
        extra = {}
        if mode != "real":
            if not len(labelled):
                down[mode] = {"skipped": "the synthetic images have no class (unconditional model, or a "
                                         "stylize output whose style images carry no labels)"}
                continue
            pick = labelled if mode == "real+synthetic" else labelled[_balanced_subset(fake.binary[labelled])]
            extra = {"synthetic_x": fake.images[pick], "synthetic_y": fake.binary[pick]}
        down[mode] = _safe(classifiers.downstream, real["train"][train_ok], real["train_y"][train_ok],
                           real["held"][held_ok], real["held_y"][held_ok], seeds=budget.seeds, mode=mode,
                           budget=budget.classifier, **extra)
    return {"distribution": dist, "two_sample": two, "downstream": down}, (act_real, act_fake), matched


def _evaluate_generative(task, cfg, data, split, budget: Budget, plan: StylePlan, seed: int,
                         feature_network: str, vgg_weights: str):
    seq = cfg.sequences[0]
    usable = data.has([seq])
    train = data.subset(usable & np.isin(data.subjects, split["train"]))
    held = data.subset(usable & np.isin(data.subjects, list(split["val"]) + list(split["test"])))
    if not len(held) or not len(train):
        raise UserError(data.source, f"the run's split leaves {len(train)} training and {len(held)} held-out "
                                     f"slices with {seq} in this source")
    real = {"train": train.channels([seq]), "held": held.channels([seq]),
            "train_y": train.binary_labels()[0], "held_y": held.binary_labels()[0]}
    conditional = bool(getattr(task, "num_classes", 0))
    run_held = task.labels_of(held) if conditional else np.full(len(held), -1, np.int32)
    counts = {b: int((real["train_y"] == b).sum()) for b in (0, 1)}
    # as many synthetic as real slices, so the two-sample test learns from both sides alike
    per_binary = {b: max(budget.per_class, max(counts.values()) - n, n + int((real["held_y"] == b).sum()))
                  for b, n in counts.items()}
    pool = _synthetic_pool(task, per_binary, max(2 * budget.per_class, len(train) + len(held)), seed)

    feature_labels = train.labels if len(set(train.labels[train.labels >= 0].tolist())) >= 2 else real["train_y"]
    feature = _feature_fn(feature_network, vgg_weights, real["train"], feature_labels, seed, budget)
    without, (act_real, act_fake), matched = _generative_metrics(real, pool, run_held, feature, budget, seed)
    act_train = metrics.feature_activations(real["train"][_examples(len(real["train"]), len(matched))], feature[0])
    reference = _safe(metrics.compare_activations, act_real, act_train, feature[1],
                      k=max(1, min(5, len(act_train) - 1, len(act_real) - 1)), kid_subsets=budget.kid_subsets,
                      seed=seed)
    reference.pop("definitions", None)
    without["distribution_reference"] = dict(reference, definition=DEFINITIONS["distribution_reference"])
    names = task.meta["label_names"]
    without["synthetic"] = {
        "generated": len(pool.images), "matched_to_held_out_classes": len(matched),
        "per_class": {names[c]: int((pool.run_labels == c).sum()) for c in np.unique(pool.run_labels[pool.run_labels >= 0])},
        "definition": f"generated with seed {seed}: per tumour class the largest of {budget.per_class}, what "
                      "balances the training split and the count of its real slices; the distribution metrics "
                      "and the two-sample test use the images whose class shares follow the held-out set's, "
                      "(b) all of them, (c) a class-balanced subset"}
    without["classes"] = {"downstream": ["no_tumor", "tumor"],
                          **{name: {"no_tumor": int((real[f"{part}_y"] == 0).sum()),
                                    "tumor": int((real[f"{part}_y"] == 1).sum())}
                             for name, part in (("train", "train"), ("held_out", "held"))}}
    without["split"] = DEFINITIONS["held_out"]

    style_losses: dict = {}
    styled = None
    if plan.folder is not None:
        read, style_losses, settings = _read_stylized(plan.folder, cfg.image_size)
        labels = _stylized_labels(settings, read["style_index"]) if conditional else None
        run_labels = labels if labels is not None else np.full(len(read["stylized"]), -1, np.int32)
        binary = np.array([_binary_index(names[c]) if c >= 0 else -1 for c in run_labels], np.int32)
        styled = Synthetic(read["stylized"], run_labels, binary)
        content, style = read["content"], read["style"]
    elif plan.weights is not None:
        source = pool.take(_capped(pool, budget.style_images))
        content = _content_for(real["train"], task.labels_of(train) if conditional else None, source.run_labels, seed)
        images, style_losses, settings = _run_style(content, source.images, plan.weights, budget.style_steps, seed)
        styled, style = Synthetic(images, source.run_labels, source.binary), source.images
    else:
        settings = {"reason": plan.reason}
    settings["definition"] = DEFINITIONS["style_stylize" if plan.folder is not None else "style_generative"]
    out = dict(without, style=dict(settings, applied=styled is not None))
    arrays = {"real": real["held"][_examples(len(real["held"]), 8), ..., 0],
              "synthetic": pool.images[matched][_examples(len(matched), 8), ..., 0],
              "hist_real": _histogram(real["held"]), "hist_synthetic": _histogram(pool.images[matched])}
    acts = [act_fake]
    if styled is not None:
        out["with_style"], (_, act_styled), styled_matched = _generative_metrics(real, styled, run_held, feature,
                                                                                  budget, seed)
        acts.append(act_styled)
        pick = _examples(len(styled.images), 8)
        arrays.update(stylized=styled.images[pick, ..., 0], content=content[pick, ..., 0], style=style[pick, ..., 0],
                      hist_stylized=_histogram(styled.images[styled_matched]))
    projections = _projection(act_real, *acts)
    arrays["proj_real"], arrays["proj_synthetic"] = projections[0], projections[1]
    if len(projections) > 2:
        arrays["proj_stylized"] = projections[2]
    return out, arrays, style_losses


def _content_for(real_train: np.ndarray, train_labels, pool_labels: np.ndarray, seed: int) -> np.ndarray:
    """A real training image for each generated one, of the same class when both have one."""
    rng = np.random.default_rng([seed, 29])
    idx = rng.integers(0, len(real_train), len(pool_labels))
    if train_labels is not None:
        for c in np.unique(pool_labels[pool_labels >= 0]):
            same = np.flatnonzero(train_labels == c)
            rows = np.flatnonzero(pool_labels == c)
            if len(same):
                idx[rows] = rng.choice(same, len(rows))
    return real_train[idx]


# ------------------------------------------------------------------------------ entry point

def _checkpoint_name(path: str | None) -> str | None:
    """best/ckpt-N or ckpt-N from a checkpoint prefix."""
    if not path:
        return None
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.parent.name == "best" else path.name


def evaluate_run(run_dir, source: str | None = None, stylized=None, feature_network: str = "auto",
                 budget="small", vgg_weights: str = "auto", seed: int = 0, command: str | None = None,
                 name: str | None = None, checkpoint: str = "best") -> Evaluation:
    """Evaluate one run directory (see the module docstring); ``source`` defaults to the run's data;
    ``checkpoint``: the best by validation where the run kept one, or "latest"."""
    run_dir = Path(run_dir)
    cfg, meta = inference.load_run(run_dir)
    budget = resolve_budget(budget)
    if feature_network not in FEATURE_CHOICES:
        raise UserError("--feature-network", f"unknown feature network {feature_network!r} "
                                             f"(known: {', '.join(FEATURE_CHOICES)})")
    split = load_split(run_dir / "split.json")
    source = source or cfg.data
    plan = plan_style(stylized, vgg_weights)
    data, external = _load_data(source, cfg, split)
    task = inference.load_task(run_dir, checkpoint)
    curves = {"training": training_curves(run_dir)}
    if cfg.generative:
        results, arrays, style_losses = _evaluate_generative(task, cfg, data, split, budget, plan, seed,
                                                             feature_network, vgg_weights)
    else:
        results, arrays, style_losses = _evaluate_paired(task, cfg, data, split, budget, plan, seed, source,
                                                         external)
    curves["style"] = style_losses
    out = {
        "command": command or f"evaluate_run({str(run_dir)!r})",
        "run": {"dir": str(run_dir), "model": cfg.model, "data": cfg.data,
                "task": (f"{cfg.model} generating {', '.join(cfg.sequences)}" if cfg.generative else
                         results["paired"]["task"]),
                "label_names": meta.get("label_names", []),
                "checkpoint": _checkpoint_name(task.checkpoint),
                "checkpoint_definition": "the checkpoint evaluated: best/ckpt-N is the best by "
                                         "validation, ckpt-N the newest (N is the training step)",
                "training": training_summary(cfg, curves["training"]),
                "runtime": meta.get("runtime", [])},
        "data": {"source": source, "kind": data.kind, "slices": len(data), "image_size": cfg.image_size,
                 "subjects": {k: len(v) for k, v in split.items()}},
        "budget": {**asdict(budget), "seed": seed, "definition": DEFINITIONS["budget"]},
        **results,
    }
    return Evaluation(name or run_dir.name, out, curves, arrays)
