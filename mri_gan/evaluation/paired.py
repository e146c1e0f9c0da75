"""Evaluation of a paired run (Pix2Pix translation or imputation) on its test subjects (split.json),
or on an external source that shares no subject with it: SSIM / PSNR / MAE / NMSE inside the
brain mask per subject, then mean and std over subjects (``metrics.paired_metrics``), beside the
trivial baselines (identity, global linear map, mean training image; ``baselines``) fitted on the
training split; every metric on which the model is worse than a baseline is flagged. Sources of
volumes also get per-case figures. With style transfer, each stylized image starts from the
slice's real source image (the model's input) and is edge-smoothed.
"""

from __future__ import annotations

import numpy as np

from mri_gan import progress, synthesis
from mri_gan.data import preprocess
from mri_gan.data.records import SEQUENCES
from mri_gan.data.slice_set import SliceSet
from mri_gan.errors import UserError
from mri_gan.evaluation import baselines, metrics, uncertainty
from mri_gan.evaluation.budgets import Budget
from mri_gan.evaluation.examples import spread
from mri_gan.evaluation.style_inputs import STYLIZE_DEFINITION, StylePlan, run_style
from mri_gan.style import output

#: data kinds whose subjects are volumes (per-case 3-D figures)
VOLUME_KINDS = ("brats",)
HIGHER_IS_BETTER = {"ssim": True, "psnr": True, "mae": False, "nmse": False}
STYLE_SIGMA = 1.0   # the edge smoothing stylize applies to Pix2Pix output

DEFINITIONS = {
    "test": "real slices of the test subjects of the run's split.json",
    "external": "real slices of every subject of a source that shares no subject with the run's "
                "split.json (train on one site, test on another); baselines fitted on the run's "
                "training split",
    "style_paired": "Gatys style transfer: content = the slice's real source image (the model's input), "
                    "style = the model's prediction for it, then Gaussian edge smoothing",
    "below_baseline": "metrics on which the model is worse than a trivial baseline (a model below a "
                      "baseline has learned nothing useful)",
}


def _paired_questions(task, data: SliceSet) -> list[tuple[str, np.ndarray, list[str]]]:
    """(target, rows, baseline source sequences) of every question the data can answer: the
    run's target from its sources (translation), or each sequence from the others (imputation;
    the baselines use the other sequences present in every row, the model all that are given)."""
    if not task.imputation:
        rows = np.flatnonzero(data.has(task.sources + [task.target]))
        return [(task.target, rows, list(task.sources))] if len(rows) else []
    out = []
    for c, seq in enumerate(SEQUENCES):
        others = [s for s in SEQUENCES if s != seq]
        given = data.available[:, [SEQUENCES.index(s) for s in others]].any(axis=1)
        rows = np.flatnonzero(data.available[:, c] & given)
        if not len(rows):
            continue
        common = [s for s in others if data.has([s])[rows].all()]
        if not common:  # keep the rows of the most available other sequence
            best = max(others, key=lambda s: int(data.has([s])[rows].sum()))
            rows, common = rows[data.has([best])[rows]], [best]
        out.append((seq, rows, common))
    return out


def _paired_parts(task, data: SliceSet, predict: bool = True, samples: int = 0) -> list[dict]:
    """Per question: target images, sources, masks, subjects (and the model's predictions, with
    ``samples`` >= 2 the calibration of their test-time spread: ``uncertainty.calibration``)."""
    parts = []
    for seq, rows, sources in _paired_questions(task, data):
        sub = data.subset(rows)
        part = dict(target_name=seq, source_names=sources, target=sub.channels([seq])[..., 0],
                    source=sub.channels(sources), mask=sub.brain_mask, subjects=sub.subjects,
                    lesion=sub.tumor_mask, slice_index=sub.slice_index)
        if predict:
            batches = -(-len(rows) // synthesis.BATCH) * max(1, samples)
            with progress.bar(f"predicting {seq} ({max(1, samples)} draws)", batches, "batch") as shown:
                translator = synthesis.ticking(synthesis.task_translator(task), shown.update)
                pred01, spread = synthesis.predict_with_spread(translator, data.with_context(task.context, rows),
                                                               sub.available, seq, samples=samples)
            part["pred"] = preprocess.to_model_range(pred01)
            if spread is not None:
                part["calibration"] = uncertainty.calibration(spread, pred01 - metrics.to_unit_range(part["target"]),
                                                              sub.brain_mask)
        parts.append(part)
    return parts


def _joined(parts: list[dict], key: str) -> np.ndarray:
    """``key`` of every question's part, concatenated."""
    return np.concatenate([p[key] for p in parts])


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


def _baseline_rows(task, train: SliceSet, test_parts: list[dict]) -> tuple[dict, list[dict], list[dict]]:
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
        return {name: dict(metrics.paired_metrics(np.concatenate([pp[name] for pp in part_preds]),
                                                  *(_joined(parts, k) for k in ("target", "mask", "subjects")),
                                                  lesion=_joined(parts, "lesion")),
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
            per_case[case] = metrics.brasyn_case_metrics(metrics.to_unit_range(pred[idx]),
                                                         metrics.to_unit_range(part["target"][idx]),
                                                         part["mask"][idx], part["lesion"][idx])
        summary = {}
        for key in ("ssim_tumour", "ssim_healthy", "psnr", "mse"):
            values = [c[key] for c in per_case.values() if c[key] is not None]
            summary[key] = {"mean": float(np.mean(values)), "std": float(np.std(values))} if values else None
        rows[name] = dict(summary, cases=len(per_case), **({"per_case": per_case} if name == "model" else {}))
    return rows


def evaluate_paired(task, cfg, test: SliceSet, train: SliceSet, budget: Budget, plan: StylePlan, seed: int,
                    source: str, external: bool = False) -> tuple[dict, dict, dict]:
    """The metrics of a paired run on ``test`` (baselines fitted on ``train``), the arrays of the
    report's example figures and the style losses per iteration."""
    parts = _paired_parts(task, test, samples=synthesis.SAMPLES)
    if not parts:
        held = f"{len(set(test.subjects))} subject(s) of {source}" if external else \
            f"the run's {len(set(test.subjects))} test subject(s)"
        raise UserError(source, f"no slice of {held} has the sequences {', '.join(task.sources)} and "
                                f"{task.target}")
    pred, target, mask, subjects, lesion = (_joined(parts, k) for k in ("pred", "target", "mask", "subjects",
                                                                         "lesion"))
    content = np.concatenate([p["source"][..., :1] for p in parts])
    paired = metrics.paired_metrics(pred, target, mask, subjects, lesion=lesion)
    paired["task"] = (f"{' + '.join(task.sources)} -> {task.target}" if not task.imputation else
                      "imputation: each sequence from the others, leave-one-out, pooled")
    paired["split"] = DEFINITIONS["external" if external else "test"]
    paired["external"] = external
    rows, per_question, baseline_preds = _baseline_rows(task, train, parts)
    volumes = test.kind in VOLUME_KINDS
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
    pick = spread(len(pred))
    style_losses: dict = {}
    if plan.folder is not None:
        styled, style_losses, settings = output.read(plan.folder, cfg.image_size)
        if len(styled["stylized"]) != len(pred):
            raise UserError(plan.folder, f"holds {len(styled['stylized'])} stylized images; a paired run needs "
                                         f"one per test slice in evaluation order ({len(pred)})")
        stylized = styled["stylized"][..., 0]
    elif plan.weights is not None:
        images, style_losses, settings = run_style(content, pred[..., None], plan.weights, budget.style_steps,
                                                   seed, STYLE_SIGMA)
        stylized = images[..., 0]
    else:
        stylized, settings = None, {"reason": plan.reason}
    settings["definition"] = STYLIZE_DEFINITION if plan.folder is not None else DEFINITIONS["style_paired"]
    out["style"] = dict(settings, applied=stylized is not None)
    if stylized is not None:
        styled_metrics = metrics.paired_metrics(stylized, target, mask, subjects, lesion=lesion)
        styled_metrics["below_baseline"] = _below(styled_metrics, rows)
        out["with_style"] = {"paired": styled_metrics}
        arrays["stylized"] = stylized
    arrays = {k: v[pick].astype(np.float32) for k, v in arrays.items()}
    return out, arrays, style_losses
