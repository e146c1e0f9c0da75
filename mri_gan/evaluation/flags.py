"""Flags: the figures of a report that mean little, one line each, shown in a table at its top.

A figure is flagged when it cannot be read at face value: a FID or KID below what real training
images score against the same held-out slices (the feature network cannot separate the sets), a
negative KID (an unbiased estimate below its own noise), a classifier at chance, a two-sample
accuracy near 1 (the synthetic images are easy to tell from real ones, whatever the distances say),
a real-vs-synthetic classifier that did not fit its own training images, a model below a trivial
baseline, and an evaluation run on the demo's small budgets.
"""

from __future__ import annotations

from mri_gan.evaluation.tables import fmt, lookup, percent

CHANCE = 0.05          # a balanced accuracy within 0.5 ± CHANCE is at chance
NEAR_ONE = 0.95        # a two-sample accuracy from here on: real and synthetic are told apart
FITTED = 0.6           # a two-sample classifier below this on its own training images learnt nothing
DEMO_BUDGETS = ("demo", "smoke")
MODES = {"real": "(a) real only", "real+synthetic": "(b) real + synthetic", "synthetic": "(c) synthetic only"}


def _flag(run, figure: str, text: str) -> dict:
    return {"run": run, "figure": figure, "flag": text}


def _distribution(name: str, m: dict, label: str, d: dict | None) -> list[dict]:
    if not d or "fid" not in d:
        return []
    out, ref = [], m.get("distribution_reference") or {}
    network = d.get("feature_network", "the feature")
    kid, ref_kid = lookup(d, "kid", "mean"), lookup(ref, "kid", "mean")
    if ref.get("fid") is not None and d["fid"] < ref["fid"]:
        out.append(_flag(name, f"FID ({label})", f"{fmt(d['fid'])} is below the {fmt(ref['fid'])} of real training "
                     f"images against the same held-out slices: {network} features cannot tell these sets apart "
                     "at this sample size, so this FID says nothing of realism"))
    if kid is not None and kid < 0:
        out.append(_flag(name, f"KID ({label})", f"{fmt(d['kid'])} is negative: the unbiased estimate is below "
                     "its own noise; read it as 0 (no difference measurable at this sample size)"))
    elif kid is not None and ref_kid is not None and kid < ref_kid:
        out.append(_flag(name, f"KID ({label})", f"{fmt(kid)} is below the {fmt(ref_kid)} of real training images "
                     f"against the same held-out slices: {network} features cannot tell these sets apart at this "
                     "sample size, so this KID says nothing of realism"))
    return out


def _two_sample(name: str, label: str, t: dict | None) -> list[dict]:
    if not t or "accuracy" not in t:
        return []
    out = []
    if t["accuracy"] >= NEAR_ONE:
        out.append(_flag(name, f"two-sample accuracy ({label})", f"a small CNN tells real from synthetic slices "
                     f"apart {percent(t['accuracy'])} of the time: the synthetic images are easy to tell from real "
                     "ones, whatever FID, KID, precision or recall say"))
    if t.get("train_accuracy") is not None and t["train_accuracy"] < FITTED:
        out.append(_flag(name, f"two-sample accuracy ({label})", f"the real-vs-synthetic CNN is right on only "
                     f"{percent(t['train_accuracy'])} of its own training images: it learnt nothing, so its test "
                     "accuracy and realism prove nothing"))
    return out


def _downstream(name: str, label: str, down: dict | None) -> list[dict]:
    out = []
    for mode, d in (down or {}).items():
        score = lookup(d, "balanced_accuracy", "mean")
        if score is None or abs(score - 0.5) > CHANCE:
            continue
        out.append(_flag(name, f"tumour classifier {MODES[mode]}{label}", f"balanced accuracy {percent(score)} "
                     "is chance (a classifier that predicts one class for every image scores exactly 50 %): it "
                     "learnt nothing at this budget, and the comparisons with it say nothing"))
    return out


def _metric(name: str) -> str:
    """'tumour ssim' -> 'tumour SSIM'."""
    return " ".join(w.upper() if w in ("ssim", "psnr", "mae", "nmse") else w for w in name.split())


def _below_baseline(name: str, m: dict) -> list[dict]:
    paired = m.get("paired") or {}
    styled = lookup(m, "with_style", "paired") or {}
    rows = list(paired.get("below_baseline", [])) + [dict(f, style=True) for f in styled.get("below_baseline", [])]
    return [_flag(name, f"{f['target'] + ' ' if f.get('target') else ''}{_metric(f['metric'])}"
                        f"{' with style' if f.get('style') else ''}",
                  f"the model's {fmt(f['model'])} is below the trivial baseline {f['baseline']} "
                  f"({fmt(f['baseline_value'])}): here it does worse than copying or mapping an input")
            for f in rows]


def flags(runs: dict[str, dict]) -> list[dict]:
    """Every flag of the evaluated runs ({name: metrics}): ``{"run", "figure", "flag"}`` each, the
    demo-budget flag first (``run`` None)."""
    out = []
    budgets = sorted({lookup(m, "budget", "name") for m in runs.values()} & set(DEMO_BUDGETS))
    if budgets:
        out.append(_flag(None, "every figure", f"demo budget ({', '.join(budgets)}): expect poor results; the "
                         "models trained for minutes and were evaluated with a small budget, so the figures show "
                         "that the pipeline runs, not what the models can do"))
    for name, m in runs.items():
        style = m.get("with_style", {})
        out += _below_baseline(name, m)
        for label, d, t, down in (("synthetic", m.get("distribution"), m.get("two_sample"), m.get("downstream")),
                                  ("synthetic + style", style.get("distribution"), style.get("two_sample"),
                                   style.get("downstream"))):
            out += _distribution(name, m, label, d) + _two_sample(name, label, t)
            out += _downstream(name, "" if label == "synthetic" else " + style",
                               {k: v for k, v in (down or {}).items() if not (label != "synthetic" and k == "real")})
    return out
