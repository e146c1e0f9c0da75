"""The report's flags: each case that makes a figure mean little gives one line, and a fine figure none."""

from __future__ import annotations

import copy

import pytest

from mri_gan.evaluation.document import to_markdown
from mri_gan.evaluation.flags import flags


def _generative() -> dict:
    """A generative run's metrics where every figure can be read at face value."""
    def down(score):
        return {"balanced_accuracy": {"mean": score, "std": 0.01, "per_seed": [score]}, "accuracy": score}

    return {
        "run": {"model": "cdcgan", "task": "cdcgan generating t1", "training": {
            "batch_size": 64, "epochs_trained": 10, "lr_d": 1e-4, "lr_g": 2e-4, "optimizer": "Adam"}},
        "budget": {"name": "small"},
        "distribution": {"fid": 0.8, "kid": {"mean": 0.02, "std": 0.001}, "feature_network": "vgg19-mri"},
        "distribution_reference": {"fid": 0.1, "kid": {"mean": 0.001, "std": 0.001}},
        "two_sample": {"accuracy": 0.8, "realism": 0.4, "train_accuracy": 0.97, "ci95": [0.75, 0.85]},
        "downstream": {"real": down(0.8), "real+synthetic": down(0.82), "synthetic": down(0.7)},
    }


def _paired(below: list[dict]) -> dict:
    return {"run": {"model": "pix2pix", "task": "t1 -> flair", "training": {
                "batch_size": 8, "epochs_trained": 3, "lr_d": 1e-4, "lr_g": 2e-4, "optimizer": "Adam"}},
            "budget": {"name": "small"}, "paired": {"below_baseline": below}}


def _lines(runs: dict) -> list[str]:
    return [f"{f['run']} | {f['figure']} | {f['flag']}" for f in flags(runs)]


def test_fine_figures_raise_no_flag():
    assert flags({"g": _generative(), "p": _paired([])}) == []


@pytest.mark.parametrize("change,figure,words", [
    (lambda m: m["distribution"].update(fid=0.0098),
     "FID (synthetic)", "0.0098 is below the 0.1 of real training images"),
    (lambda m: m["distribution"].update(kid={"mean": 0.0002, "std": 0.001}),
     "KID (synthetic)", "0.0002 is below the 0.001 of real training images"),
    (lambda m: m["distribution"].update(kid={"mean": -0.003, "std": 0.002}),
     "KID (synthetic)", "-0.003 ± 0.002 is negative"),
    (lambda m: m["two_sample"].update(accuracy=1.0), "two-sample accuracy (synthetic)",
     "apart 100 % of the time"),
    (lambda m: m["two_sample"].update(train_accuracy=0.52), "two-sample accuracy (synthetic)",
     "only 52 % of its own training images"),
    (lambda m: m["downstream"]["real"]["balanced_accuracy"].update(mean=0.5),
     "tumour classifier (a) real only", "balanced accuracy 50 % is chance"),
    (lambda m: m["downstream"]["synthetic"]["balanced_accuracy"].update(mean=0.47),
     "tumour classifier (c) synthetic only", "balanced accuracy 47 % is chance"),
])
def test_each_case_gives_one_flag_line(change, figure, words):
    m = _generative()
    change(m)
    lines = _lines({"g": m})
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"g | {figure} | ") and words in lines[0]


def test_the_same_cases_with_style_are_flagged_apart():
    m = _generative()
    m["with_style"] = copy.deepcopy({k: m[k] for k in ("distribution", "two_sample", "downstream")})
    m["with_style"]["two_sample"]["accuracy"] = 0.99
    m["with_style"]["downstream"]["real+synthetic"]["balanced_accuracy"]["mean"] = 0.5
    assert [line.split(" | ")[1] for line in _lines({"g": m})] == [
        "two-sample accuracy (synthetic + style)", "tumour classifier (b) real + synthetic + style"]


def test_every_comparison_below_a_baseline_is_a_line():
    below = [{"metric": "ssim", "model": 0.41, "baseline": "identity", "baseline_value": 0.63},
             {"target": "flair", "metric": "tumour psnr", "model": 17.2, "baseline": "linear t2",
              "baseline_value": 19.5}]
    m = _paired(below)
    m["with_style"] = {"paired": {"below_baseline": below[:1]}}
    assert _lines({"p": m}) == [
        "p | SSIM | the model's 0.41 is below the trivial baseline identity (0.63): here it does worse than "
        "copying or mapping an input",
        "p | flair tumour PSNR | the model's 17.2 is below the trivial baseline linear t2 (19.5): here it does "
        "worse than copying or mapping an input",
        "p | SSIM with style | the model's 0.41 is below the trivial baseline identity (0.63): here it does worse "
        "than copying or mapping an input"]


@pytest.mark.parametrize("budget", ["demo", "smoke"])
def test_a_demo_budget_opens_the_flags(budget):
    m = _generative()
    m["budget"]["name"] = budget
    found = flags({"g": m, "p": _paired([])})
    assert found[0]["run"] is None and found[0]["flag"].startswith(f"demo budget ({budget}): expect poor results")
    assert len(found) == 1


def test_flags_are_a_table_at_the_top_of_the_document(tmp_path):
    from mri_gan.evaluation.document import _flag_blocks, summary

    m = _generative()
    m["two_sample"]["accuracy"] = 1.0
    m["distribution"].update(precision=0.2, recall=0.1)
    text = to_markdown(_flag_blocks(flags({"g": m})), tmp_path)
    assert text.startswith("## Flags: figures that mean little")
    assert "| run | figure | why it means little |" in text and "| g | two-sample accuracy (synthetic) |" in text
    assert "right 100 % of the time" in summary("g", m) and " 1 of the time" not in summary("g", m)
    fine = to_markdown(_flag_blocks([]), tmp_path)
    assert "No figure below is flagged" in fine and "| run | figure |" not in fine
