"""Evaluation reports end to end: the smoke demo, metrics.json's shape, Table 1, every number of
report.md found in metrics.json, the evaluate / report commands and their user errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from mri_gan.cli import main

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`mri-gan demo` with smoke budgets, run in-process once: (folder, log lines)."""
    from mri_gan.demo import run_demo

    out = tmp_path_factory.mktemp("demo") / "demo"
    lines = []
    report = run_demo(out, "smoke", log=lines.append, progress=False)
    assert report == out / "report" / "report.html"
    return out, lines


def _numbers_in_json(value, found: set) -> set:
    if isinstance(value, dict):
        for k, v in value.items():
            _numbers_in_json(k, found)
            _numbers_in_json(v, found)
    elif isinstance(value, list):
        for v in value:
            _numbers_in_json(v, found)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, (int, float)):
        found.add(float(value))
    elif isinstance(value, str):
        found.update(float(n) for n in NUMBER.findall(value))
    return found


def test_demo_prints_the_report_path_then_three_commands_and_embeds_its_figures(demo):
    from mri_gan.demo import NEXT, STEPS

    out, lines = demo
    assert lines[-6] == f"report: {out / 'report' / 'report.html'}"
    assert lines[-4].startswith("try next (after `source .venv/bin/activate`, or write .venv/bin/mri-gan")
    assert lines[-3:] == [f"  {line}" for line in NEXT] and all(line.startswith("mri-gan ") for line in NEXT)
    done = json.loads((out / "demo.json").read_text())["done"]
    assert [line.split("] ")[0] for line in lines if line.startswith("[")] == [
        f"[{STEPS.index(name) + 1}/{len(STEPS)}" for name in done]     # a counter on every step
    page = (out / "report" / "report.html").read_text()
    figures = sorted((out / "report" / "figures").glob("*.png"))
    assert len(figures) >= 6
    assert page.count("src='data:image/png;base64,") == len(figures)     # self-contained
    assert "src='figures/" not in page and 'src="figures/' not in page
    for name in ("cdcgan", "pix2pix"):
        assert (out / name / "metrics.jsonl").is_file()
        assert json.loads((out / f"evaluate-{name}" / "metrics.json").read_text())["kind"] == "mri_gan.evaluation"
    assert (out / "data_preview.png").is_file() and (out / "cdcgan-samples" / "samples.npz").is_file()
    state = json.loads((out / "demo.json").read_text())
    assert state["done"][-1] == "report" and state["report"].endswith("report.html")
    assert set(state["seconds"]) == {*state["done"], "total"} and state["seconds"]["total"] > 0


def test_demo_ends_by_filling_a_phantom_case_with_the_shipped_model(demo):
    from mri_gan import pretrained

    out, lines = demo
    state = json.loads((out / "demo.json").read_text())
    if not pretrained.available():
        assert "fill" not in state["done"] and any(line.startswith("fill: skipped") for line in lines)
        return
    assert state["done"][-2:] == ["fill", "report"]
    record = json.loads((out / "fill" / "fill.json").read_text())
    assert record["given"] == ["t1", "t2"] and [e["sequence"] for e in record["synthesized"]] == ["t1ce", "flair"]
    assert record["model"]["run"] == "pretrained" and record["model"]["shipped"]["version"] >= 1
    assert sorted(p.name for p in (out / "phantom-removed").iterdir()) == ["phantom-001_flair.nii.gz",
                                                                          "phantom-001_t1ce.nii.gz"]
    figure = next(f for f in json.loads((out / "report" / "metrics.json").read_text())["figures"]
                  if f["figure"] == "fill_qc")
    assert (out / "report" / figure["file"]).read_bytes() == (out / "fill" / "qc.png").read_bytes()
    assert figure["caption"] in (out / "report" / "report.md").read_text()


def test_every_number_in_report_md_is_in_metrics_json(demo):
    out, _ = demo
    for folder in (out / "report", out / "evaluate-cdcgan", out / "evaluate-pix2pix"):
        known = _numbers_in_json(json.loads((folder / "metrics.json").read_text()), set())
        # a commit hash can be all digits
        text = re.sub(r"git [0-9a-f]{10}", "git", (folder / "report.md").read_text())
        numbers = [float(n) for n in NUMBER.findall(text)]
        assert len(numbers) > 50
        missing = [x for x in numbers
                   if not any(x == v or x == float(f"{v:.4g}") for v in known)]
        assert not missing, (folder.name, missing[:10])


def test_metrics_json_has_the_design_shape(demo):
    out, _ = demo
    doc = json.loads((out / "report" / "metrics.json").read_text())
    assert doc["kind"] == "mri_gan.report" and doc["command"].startswith("mri-gan demo")
    gen, par = doc["runs"]["cdcgan"], doc["runs"]["pix2pix"]
    paired = par["paired"]
    for metric in ("ssim", "psnr", "mae"):
        assert set(paired[metric]) == {"mean", "std"}
        assert metric in paired["definitions"]
    assert paired["subjects"] >= 1 and paired["masked"] is True
    assert set(paired["baselines"]) == {"identity", "linear", "mean_image"}
    for row in (paired, *paired["baselines"].values()):   # the phantom has lesion masks
        assert set(row["lesion_contrast"]) == {"mean", "std", "subjects"}
    dist = gen["distribution"]
    assert {"fid", "kid", "precision", "recall", "feature_network", "definitions"} <= set(dist)
    assert dist["feature_network"] == "vgg19-mri"   # the demo's own MRI VGG19 weights
    assert 0.0 <= gen["two_sample"]["accuracy"] <= 1.0 and "definition" in gen["two_sample"]
    low, high = gen["two_sample"]["ci95"]
    assert low <= gen["two_sample"]["accuracy"] <= high and 0.0 <= gen["two_sample"]["p_value"] <= 1.0
    real = sum(gen["classes"][part][c] for part in ("train", "held_out") for c in ("no_tumor", "tumor"))
    assert gen["synthetic"]["generated"] >= real     # as many synthetic as real slices
    assert set(gen["downstream"]) == {"real", "real+synthetic", "synthetic"}
    for mode in gen["downstream"].values():
        assert "definition" in mode or "skipped" in mode
    computed = [m for m in gen["downstream"].values() if "skipped" not in m]
    assert computed and all(len(m["balanced_accuracy"]["per_seed"]) >= 3 for m in computed)
    for run in (gen, par):   # every metric again with style transfer, with the weights used
        assert run["style"]["applied"] is True
        assert run["style"]["vgg"]["weights"] == "mri" and "vgg19_mri" in run["style"]["vgg"]["file"]
        assert run["command"].startswith("mri-gan evaluate")
    assert set(gen["with_style"]) == {"distribution", "two_sample", "downstream"}
    assert set(par["with_style"]["paired"]["ssim"]) == {"mean", "std"}
    assert {f["figure"] for f in doc["figures"]} >= {"bars7", "grid6", "losses", "distribution", "style_losses",
                                                     "samples"}


def test_table1_puts_the_papers_numbers_beside_ours(demo):
    out, _ = demo
    doc = json.loads((out / "report" / "metrics.json").read_text())
    table = doc["table1"]
    assert [c["key"] for c in table["columns"]] == ["paper: DCGAN", "cdcgan", "paper: Pix2Pix", "pix2pix"]
    rows = {r["key"]: r for r in table["rows"]}
    assert rows["batch_size"]["cells"] == {"paper: DCGAN": 120, "cdcgan": 4, "paper: Pix2Pix": 80, "pix2pix": 4}
    assert rows["d_loss"]["cells"]["paper: DCGAN"] == 4.2999
    assert rows["paper_accuracy"]["cells"]["paper: Pix2Pix"] == [89.02, 93.7]
    assert rows["paper_accuracy"]["cells"]["cdcgan"] is None      # undefined in the paper: no analogue
    assert len(rows["ssim"]["cells"]["pix2pix"]) == 2                # without / with style
    assert all(r["definition"] for r in table["rows"])
    md = (out / "report" / "report.md").read_text()
    assert "| batch size | 120 | 4 | 80 | 4 |" in md
    assert "| final D loss | 4.2999 |" in md


def test_a_model_below_a_trivial_baseline_is_flagged(demo):
    from mri_gan.evaluation.tables import fmt

    out, _ = demo
    paired = json.loads((out / "evaluate-pix2pix" / "metrics.json").read_text())["paired"]
    identity = paired["baselines"]["identity"]["ssim"]["mean"]
    assert paired["ssim"]["mean"] < identity       # four smoke steps learn nothing
    assert {"baseline": "identity", "metric": "ssim", "model": paired["ssim"]["mean"],
            "baseline_value": identity} in paired["below_baseline"]
    text = (out / "evaluate-pix2pix" / "report.md").read_text()
    assert "**The model is below a trivial baseline**" in text
    head = text[:text.index("## In short")]      # every flag a line of the table at the top
    assert f"| pix2pix | SSIM | the model's {fmt(paired['ssim']['mean'])} is below the trivial baseline identity " \
           f"({fmt(identity)})" in head


def test_report_reuses_evaluate_outputs(demo, tmp_path, capsys):
    out, _ = demo
    target = tmp_path / "side-by-side"
    assert main(["report", "--runs", str(out / "evaluate-pix2pix"), str(out / "evaluate-cdcgan"),
                 "--out", str(target)]) == 0
    assert capsys.readouterr().out.strip().endswith(str(target / "report.html"))
    doc = json.loads((target / "metrics.json").read_text())
    assert list(doc["runs"]) == ["pix2pix", "cdcgan"]
    assert doc["runs"]["cdcgan"]["distribution"] == json.loads(
        (out / "evaluate-cdcgan" / "metrics.json").read_text())["distribution"]
    assert doc["command"].startswith("mri-gan report --runs")


def test_report_merges_an_earlier_report(demo, tmp_path):
    import shutil

    out, _ = demo
    assert main(["report", "--runs", str(out / "report"), str(out / "evaluate-pix2pix"),
                 "--out", str(tmp_path / "merged")]) == 0
    doc = json.loads((tmp_path / "merged" / "metrics.json").read_text())
    assert list(doc["runs"]) == ["cdcgan", "pix2pix", "pix2pix-2"]
    figures = {(f["run"], f["figure"]) for f in doc["figures"]}
    assert ("cdcgan", "distribution") in figures and ("pix2pix-2", "paired_examples") in figures
    shutil.copytree(out / "report", tmp_path / "old")      # a report without its saved arrays
    shutil.rmtree(tmp_path / "old" / "evaluations")
    assert main(["report", "--runs", str(tmp_path / "old"), "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["runs"]["cdcgan"]["distribution"] == doc["runs"]["cdcgan"]["distribution"]
    assert {f["figure"] for f in again["figures"]} >= {"losses", "bars7"}       # curves re-read from the runs
    assert not {"distribution", "samples"} & {f["figure"] for f in again["figures"]}


def test_evaluate_without_style_says_why(demo, tmp_path, capsys):
    out, _ = demo
    target = tmp_path / "eval"
    assert main(["evaluate", "--run", str(out / "pix2pix"), "--out", str(target), "--budget", "smoke",
                 "--vgg-weights", "none"]) == 0
    doc = json.loads((target / "metrics.json").read_text())
    assert doc["data"]["source"] == "phantom?subjects=12&size=32"      # the run's own source
    assert doc["style"]["applied"] is False and "none" in doc["style"]["reason"]
    assert "with_style" not in doc
    assert doc["paired"]["ssim"] == json.loads(
        (out / "evaluate-pix2pix" / "metrics.json").read_text())["paired"]["ssim"]   # deterministic
    assert "Style transfer: not applied" in (target / "report.md").read_text()
    assert "predicting flair (8 draws)" in capsys.readouterr().err          # progress on its inner loops
    assert main(["evaluate", "--run", str(out / "pix2pix"), "--out", str(tmp_path / "quiet"), "--budget", "smoke",
                 "--vgg-weights", "none", "--no-progress"]) == 0
    assert "predicting" not in capsys.readouterr().err


def _image_folder(root: Path) -> Path:
    import cv2

    for label in ("yes", "no"):
        (root / "images" / label).mkdir(parents=True)
        for k in range(2):
            cv2.imwrite(str(root / "images" / label / f"{k}.png"), np.full((32, 32), 40 * k + 60, np.uint8))
    return root / "images"


@pytest.mark.parametrize("case,message", [
    ("not_a_run", "not a run directory"),
    ("used_out", "exists and is not empty"),
    ("bad_stylized", "not a `mri-gan stylize` output"),
    ("other_data", "a generative run is evaluated on its own source"),
    ("external_without_target", "has the sequences t1 and flair"),
])
def test_user_errors_are_one_line_exit_2(demo, tmp_path, capsys, case, message):
    out, _ = demo
    args = {"not_a_run": ["--run", str(tmp_path)],
            "used_out": ["--run", str(out / "pix2pix"), "--out", str(out / "report")],
            "bad_stylized": ["--run", str(out / "pix2pix"), "--stylized", str(tmp_path)],
            "other_data": ["--run", str(out / "cdcgan"), "--data", f"folder:{_image_folder(tmp_path / 'a')}"],
            "external_without_target": ["--run", str(out / "pix2pix"), "--data",
                                        f"folder:{_image_folder(tmp_path / 'b')}"]}[case]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "never")]
    assert main(["evaluate", *args, "--budget", "smoke", "--vgg-weights", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mri-gan: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "never").exists()


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path), "--budget", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "holds no earlier demo" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_clean_and_fmt():
    from mri_gan.evaluation.tables import clean, fmt

    value = clean({"a": np.float32(1 / 3), "b": np.int64(3), "c": [np.float64(np.inf)], "d": np.bool_(True)})
    assert value == {"a": 0.333333, "b": 3, "c": [None], "d": True}
    json.dumps(value, allow_nan=False)
    assert fmt({"mean": 0.123456, "std": 0.01}) == "0.1235 ± 0.01"
    assert fmt([87.5, None]) == "87.5 / —" and fmt(2e-4) == "0.0002" and fmt(4.2999, 6) == "4.2999"


@pytest.mark.slow
def test_notebook_walks_through_the_report(demo, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    out, _ = demo
    nb = nbformat.read(ROOT / "notebooks" / "05_evaluation.ipynb", as_version=4)
    assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    monkeypatch.setenv("MRI_GAN_SMOKE", "1")
    monkeypatch.setenv("MRI_GAN_REPORT", str(out / "report"))
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(str(o) for cell in nb.cells for o in cell.get("outputs", []))
    assert "batch size" in text and "image/png" in text


@pytest.fixture(scope="module")
def impute_run(tmp_path_factory):
    """A smoke imputation run on 12 phantom subjects at 32 px."""
    from mri_gan.config import resolve
    from mri_gan.training.trainer import Trainer

    run = tmp_path_factory.mktemp("impute") / "impute"
    Trainer(resolve("pix2pix", "smoke", "phantom?subjects=12&size=32", {"target": "any"}), run,
            progress=False).fit()
    return run


def test_imputation_run_is_scored_per_target_beside_baselines(impute_run):
    from mri_gan.evaluation.document import _paired_blocks, _runs_section
    from mri_gan.evaluation.evaluate import evaluate_run

    ev = evaluate_run(impute_run, budget="smoke", vgg_weights="none", command="test")
    paired = ev.metrics["paired"]
    assert paired["task"].startswith("imputation") and paired["external"] is False
    assert set(paired["targets"]) == {"t1", "t1ce", "t2", "flair"}
    assert set(paired["baselines"]) == {"identity", "linear", "mean_image"}
    test_slices = sum(t["per_subject"][s]["slices"] for t in paired["targets"].values() for s in t["per_subject"])
    assert sum(s["slices"] for s in paired["per_subject"].values()) == test_slices   # pooled over targets
    assert ev.metrics["style"]["applied"] is False and "with_style" not in ev.metrics
    # every target beside identity and a linear map of each other sequence, and their regression
    flair = paired["targets"]["flair"]
    assert flair["given"] == ["t1", "t1ce", "t2"]
    assert set(flair["baselines"]) == {"identity", "linear", "mean_image", "identity t1", "identity t1ce",
                                       "identity t2", "linear t1", "linear t1ce", "linear t2"}
    for row in (flair, *flair["baselines"].values()):   # the phantom has tumours: figures inside them
        assert 0 < row["tumour"]["subjects"] <= row["subjects"]
        assert -1 <= row["tumour"]["ssim"]["mean"] <= 1
    # a smoke model is below some baseline on some target: flagged with the target named
    flags = [f for f in paired["below_baseline"] if f.get("target")]
    assert flags and all({k: v for k, v in f.items() if k != "target"}
                         in paired["targets"][f["target"]]["below_baseline"] for f in flags)
    assert {f["metric"] for f in flags} & {"tumour ssim", "tumour psnr", "tumour mae", "tumour nmse"}
    for t in paired["targets"].values():   # the test-time spread beside the error, per target
        u = t["uncertainty"]
        assert len(u["error_by_spread_fifth"]) == 5 and -1 <= u["spearman"] <= 1 and u["mean_spread"] > 0
        assert u["pixels"] > 0
    text = str(_paired_blocks(ev.metrics))
    assert "baseline" in text and "flair from t1 + t1ce + t2" in text and "linear t2" in text
    assert "Uncertainty (test-time spread)" in text
    assert ev.metrics["run"]["checkpoint"].startswith("best/ckpt-")   # the best by validation
    shown = str(_runs_section("impute", ev.metrics, {}))   # how the run trained (model.json's runtime)
    assert "trained with default strategy, 1 replica(s) on 1 worker(s)" in shown and "TensorFlow" in shown
    ev.metrics["run"].pop("runtime")   # a run made before runtimes were recorded
    assert "trained with unrecorded" in str(_runs_section("impute", ev.metrics, {}))


def test_external_source_is_evaluated_whole_and_an_overlapping_one_refused(impute_run, tmp_path):
    from mri_gan.data.phantom import write_phantom_case
    from mri_gan.errors import UserError
    from mri_gan.evaluation.evaluate import evaluate_run

    for i in range(2):   # two new patients, as NIfTI cases of another "site"
        write_phantom_case(tmp_path / "other", seed=100 + i, name=f"other-{i:03d}", size=32)
    ev = evaluate_run(impute_run, f"brats:{tmp_path / 'other'}", budget="smoke", vgg_weights="none",
                      command="test")
    paired = ev.metrics["paired"]
    assert paired["external"] is True and "shares no subject" in paired["split"]
    assert set(paired["targets"]["t2"]["per_subject"]) == {"other-000", "other-001"}
    assert paired["baselines"]   # fitted on the run's own training split
    cases = paired["targets"]["t2"]["cases"]   # volumes: BraSyn-style figures per case
    assert cases["model"]["cases"] == 2 and set(cases["model"]["per_case"]) == {"other-000", "other-001"}
    assert set(cases) == {"model", *paired["targets"]["t2"]["baselines"]}
    assert 0 < cases["model"]["psnr"]["mean"] < 100 and -1 <= cases["model"]["ssim_healthy"]["mean"] <= 1
    with pytest.raises(UserError, match="shares 12 subject.*holds 2 others"):
        evaluate_run(impute_run, "phantom?subjects=14&size=32", budget="smoke", vgg_weights="none")


def test_a_run_on_part_of_its_source_is_scored_on_its_own_test_list(tmp_path):
    """A given split (train --split) may leave subjects of the source out: not an external source."""
    from mri_gan.config import resolve
    from mri_gan.evaluation.evaluate import evaluate_run
    from mri_gan.training.trainer import Trainer

    names = [f"phantom-{i:03d}" for i in range(12)]
    (tmp_path / "split.json").write_text(json.dumps({"train": names[:5], "val": names[5:6], "test": names[6:8]}))
    source = "phantom?subjects=12&size=32"
    Trainer(resolve("pix2pix", "smoke", source, {"target": "any"}), tmp_path / "run", progress=False,
            split_file=tmp_path / "split.json").fit()
    paired = evaluate_run(tmp_path / "run", budget="smoke", vgg_weights="none", command="test").metrics["paired"]
    assert paired["external"] is False
    assert set(paired["targets"]["t2"]["per_subject"]) == set(names[6:8])


def test_the_two_sample_test_trains_with_its_own_budget(demo, monkeypatch):
    """The real-vs-synthetic CNN gets ``budget.two_sample``, the other CNNs ``budget.classifier``."""
    from dataclasses import replace

    from mri_gan.evaluation import classifiers
    from mri_gan.evaluation.budgets import BUDGETS
    from mri_gan.evaluation.evaluate import evaluate_run

    out, _ = demo
    fit, seen = classifiers.fit_classifier, []
    monkeypatch.setattr(classifiers, "fit_classifier",
                        lambda x, y, n, seed, budget: seen.append(budget.filters) or fit(x, y, n, seed, budget))
    budget = replace(BUDGETS["smoke"], two_sample=classifiers.Budget(epochs=1, batch_size=16, filters=3))
    ev = evaluate_run(out / "cdcgan", budget=budget, vgg_weights="none", command="test")
    assert seen.count(3) == 1 and set(seen) == {3, BUDGETS["smoke"].classifier.filters}
    assert ev.metrics["budget"]["two_sample"]["filters"] == 3
    assert ev.metrics["two_sample"]["n_train_per_class"] > 0


def test_samples_figure_puts_synthetic_rows_under_real_ones(tmp_path, monkeypatch):
    from mri_gan.evaluation import figures
    from mri_gan.evaluation.evaluate import Evaluation

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    def images(n, value):
        return np.full((n, 8, 8), value, np.float32)

    run = {"run": {"model": "pggan"}}
    assert figures.fig_samples(Evaluation("g", run, {}, {"synthetic": images(8, 0)}), tmp_path / "a.png") is None
    ev = Evaluation("g", run, {}, {"real": images(8, 1), "synthetic": images(8, -1), "stylized": images(5, 0)})
    drawn_path, caption = figures.fig_samples(ev, tmp_path / "b.png")
    assert drawn_path == tmp_path / "b.png"
    assert caption.startswith("rows, top to bottom: real held-out, synthetic, synthetic + style")
    grid = np.array([ax.get_images()[0].get_array().mean() if ax.get_images() else np.nan
                     for ax in drawn[0].axes]).reshape(3, 8)
    assert (grid[0] == 1).all() and (grid[1] == 0).all() and (grid[2, :5] == 0.5).all()
    assert np.isnan(grid[2, 5:]).all()       # the shorter stylized row leaves its last cells empty
    assert [ax.get_ylabel() for ax in drawn[0].axes[::8]] == ["real held-out", "synthetic", "synthetic + style"]
