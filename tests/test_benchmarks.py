"""Every benchmark runs at its tiny size (``MRI_GAN_BENCH_TINY=1``) and prints only finite positive
figures, so none breaks unnoticed; `make bench`'s table has a finite positive cell wherever it has
a figure; and `python -m benchmarks results` rewrites only the generated sections of (a copy of)
the results page, from the figures the table saved and from report folders of `mri-gan evaluate`."""

import json
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from benchmarks import results
from benchmarks.__main__ import NAMES
from benchmarks.common import TINY_ENV
from benchmarks.table import ROWS
from mri_gan.config import resolve
from mri_gan.evaluation.evaluate import Evaluation
from mri_gan.evaluation.report import write_report
from mri_gan.run_dir import RunDir

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)(?![\w.])", re.IGNORECASE)


def run_benchmarks(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **{TINY_ENV: "1"})
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], capture_output=True, text=True,
                          timeout=900, env=env, cwd=ROOT)


def figures(text: str) -> list[float]:
    return [float(n) for n in NUMBER.findall(text)]


def test_number_pattern_finds_bad_figures():
    found = figures("median 3.2, min 1e-3, max nan")
    assert found[:2] == [3.2, 1e-3] and math.isnan(found[2])
    assert figures("loss wgan-gp, 128x128, -4, inf, mixed_bfloat16") == [-4.0, math.inf]


@pytest.mark.parametrize("name", NAMES)
def test_benchmark_prints_finite_positive_figures(name):
    proc = run_benchmarks(name)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if " = " in line]
    assert lines, proc.stdout
    for line in lines:
        assert re.match(r"^[^:]+: .+ = .+$", line), line
        value = line.split(" = ", 1)[1]
        for figure in figures(value):
            assert math.isfinite(figure) and figure > 0, line
    assert any(figures(line.split(" = ", 1)[1]) for line in lines)


def test_bench_table_has_every_column_and_finite_positive_cells(tmp_path):
    saved, page = tmp_path / "table.json", tmp_path / "RESULTS.md"
    proc = run_benchmarks("table", "--json", str(saved))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    for column in ("workload", "images/s median", "min", "max", "GFLOP/image", "achieved GFLOP/s",
                   "matmul peak GFLOP/s", "ratio", "peak memory MiB"):
        assert column in header, header
    body = [r for r in rows[2:]]
    assert len(body) >= 4
    for row in body:
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        assert len(cells) == len(header) - 1, row
        for cell in cells:
            if cell != "-":
                assert math.isfinite(float(cell)) and float(cell) > 0, row
    assert re.search(r"synthesis .*240x240x\d+ case: \d", proc.stdout), proc.stdout
    # the saved figures, written into a copy of the results page, give the table printed
    shutil.copy(results.PAGE, page)
    written = run_benchmarks("results", str(saved), "--page", str(page))
    assert written.returncode == 0 and not written.stderr, written.stderr
    section = generated(page.read_text())
    assert [line for line in section.splitlines() if line.startswith("|")] == rows
    assert "not measurements" in section and str(saved) in section
    assert outside(page.read_text()) == outside(results.PAGE.read_text())
    again = run_benchmarks("table", "--json", str(saved))             # refused before measuring
    assert again.returncode == 2 and again.stdout == "", again.stdout
    assert again.stderr.strip().splitlines() == [f"{saved}: exists; pass --overwrite to replace it"]


def generated(text: str) -> str:
    """What lies between the results page's markers."""
    return text.split(results.BEGIN + "\n", 1)[1].split(results.END, 1)[0]


def outside(text: str) -> str:
    """The results page without what lies between its markers."""
    return text.replace(generated(text), "")


def measured(seed: int) -> dict:
    """Figures as `python -m benchmarks table --json` saves them, drawn at random."""
    rng = np.random.default_rng(seed)

    def rates():
        low, mid, high = np.sort(rng.uniform(1, 100, 3))
        return {"median": mid, "min": low, "max": high}

    rows = [{"row": row, "workload": names[0], "images_per_s": rates(), "gflop_per_image": rng.uniform(1, 40),
             "achieved_gflops": None, "peak_gflops": rng.uniform(10, 200), "ratio": None,
             "peak_memory_mb": rng.uniform(100, 3000)} for row, names in ROWS.items()]
    return {"date": "2026-12-05 04:00 UTC", "tiny": False, "load_before": list(rng.uniform(0, 8, 3)),
            "load_after": list(rng.uniform(0, 8, 3)), "rows": rows, "synthesis": {"slices": 155, **rates()}}


@pytest.fixture
def page(tmp_path):
    """A copy of the results page."""
    return shutil.copy(results.PAGE, tmp_path / "RESULTS.md")


def save(folder, figures) -> str:
    path = folder / "table.json"
    path.write_text(json.dumps(figures))
    return str(path)


def test_results_rewrites_only_the_generated_section(page, tmp_path, capsys):
    assert results.PAGE.read_text().count(results.BEGIN) == results.PAGE.read_text().count(results.END) == 1
    before = page.read_text()
    for seed in (0, 1):
        figures = measured(seed)
        assert results.main([save(tmp_path, figures), "--page", str(page)]) == 0
        text = page.read_text()
        assert outside(text) == outside(before)
        table = [line for line in generated(text).splitlines() if line.startswith("| ")][1:]
        assert [line.split(" | ")[0][2:] for line in table] == [names[0] for names in ROWS.values()]
        for line, row in zip(table, figures["rows"]):
            assert line.split(" | ")[1] == f"{row['images_per_s']['median']:.4g}"
            assert line.split(" | ")[5] == "-"                              # achieved: None
        assert f"{figures['synthesis']['median']:.3g} s median" in text
        assert " / ".join(f"{x:.2f}" for x in figures["load_before"]) in text
        assert "not measurements" not in text
    assert capsys.readouterr().err == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RESULTS.md", "table.json"]   # no temporary left


@pytest.mark.parametrize("damage", ["no markers", "two begins", "end first"])
def test_results_refuses_a_page_without_one_marked_section(page, tmp_path, capsys, damage):
    text = page.read_text()
    if damage == "no markers":
        text = text.replace(results.BEGIN, "").replace(results.END, "")
    elif damage == "two begins":
        text = results.BEGIN + "\n" + text
    else:
        text = text.replace(results.BEGIN, "\0").replace(results.END, results.BEGIN).replace("\0", results.END)
    page.write_text(text)
    assert results.main([save(tmp_path, measured(0)), "--page", str(page)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{page}: needs one line"), err
    assert page.read_text() == text


@pytest.mark.parametrize("content", ["{not json", json.dumps({"rows": []}), json.dumps([1, 2])])
def test_results_refuses_a_file_that_is_not_the_tables_figures(page, tmp_path, capsys, content):
    before = page.read_text()
    source = tmp_path / "table.json"
    source.write_text(content)
    assert results.main([str(source), "--page", str(page)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{source}: not "), err
    assert page.read_text() == before
    assert results.main([str(tmp_path / "missing.json"), "--page", str(page)]) == 2
    assert "missing.json: not a readable JSON file" in capsys.readouterr().err


def between(text: str, begin: str, end: str) -> str:
    return text.split(begin + "\n", 1)[1].split(end, 1)[0]


def outside_both(text: str) -> str:
    """The results page without what lies between the markers of either generated section."""
    return outside(text).replace(between(text, results.EVALUATIONS_BEGIN, results.EVALUATIONS_END), "")


def mean(figures: dict, keys: tuple) -> float | None:
    for key in keys:
        figures = figures.get(key, {})
    return figures.get("mean")


def scores(rng, tumour: bool = True) -> dict:
    """Paired figures as mri_gan.evaluation.paired writes them, drawn at random."""
    figures = {"ssim": {"mean": rng.uniform(0.3, 0.9), "std": 0.01}, "psnr": {"mean": rng.uniform(12, 30), "std": 1.0},
               "mae": {"mean": 0.1, "std": 0.01}, "nmse": {"mean": 0.1, "std": 0.01}, "subjects": 2,
               "per_subject": {}, "definition": "a baseline"}
    if tumour:
        figures["tumour"] = {"ssim": {"mean": rng.uniform(0.3, 0.9), "std": 0.02}}
    return figures


def evaluation(name: str, seed: int) -> Evaluation:
    """An imputation run's evaluation (two targets, one without tumour figures), drawn at random."""
    rng = np.random.default_rng(seed)
    targets = {target: {**scores(rng, tumour), "baselines": {b: scores(rng, tumour) for b in
                                                             ("identity", "linear", f"linear {source}")}}
               for target, source, tumour in (("t1", "t2", True), ("flair", "t1", False))}
    paired = {**scores(rng), "task": "imputation", "split": "test subjects", "scale": "[0, 1]", "masked": True,
              "definitions": {}, "below_baseline": [], "baselines": {"identity": scores(rng)}, "targets": targets}
    run = {"dir": f"runs/{name}", "model": "pix2pix", "data": "phantom:x", "task": "imputation",
           "checkpoint": "best/ckpt-10", "training": {"steps_trained": 10 + seed, "batch_size": 2,
                                                       "epochs_trained": 1.0, "lr_d": 1e-3, "lr_g": 1e-3,
                                                       "optimizer": "Adam", "precision": "float32"}}
    data = {"source": "phantom:x", "image_size": 32, "slices": 8, "subjects": {"test": 2}}
    return Evaluation(name, {"command": f"mri-gan evaluate --run runs/{name} --out reports/{name}", "run": run,
                             "data": data, "paired": paired}, {}, {})


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict:
    """Report folders written by the library's own writer: two of `mri-gan evaluate` (one run each)
    and one of `mri-gan report` (both runs), each with its evaluations."""
    root = tmp_path_factory.mktemp("reports")
    folders = {"first": [evaluation("one", 0)], "second": [evaluation("two", 1)],
               "merged": [evaluation("one", 0), evaluation("two", 1)]}
    for name, evals in folders.items():
        write_report(evals, root / name, evals[0].metrics["command"])
    return {str(root / name): evals for name, evals in folders.items()}


def test_results_writes_held_out_evaluations_only_between_their_markers(page, tmp_path, reports, capsys):
    text = results.PAGE.read_text()
    assert text.count(results.EVALUATIONS_BEGIN) == text.count(results.EVALUATIONS_END) == 1
    before = page.read_text()
    named = dict(zip(("shipped", "variant", "both"), reports))
    args = [f"{name}={folder}" for name, folder in named.items()]
    assert results.main([save(tmp_path, measured(0)), "--evaluation", *args, "--page", str(page)]) == 0
    assert capsys.readouterr().err == ""
    text = page.read_text()
    section = between(text, results.EVALUATIONS_BEGIN, results.EVALUATIONS_END)
    assert outside_both(text) == outside_both(before)
    assert "load average" in generated(text) and "load average" not in section   # both written, each in its own
    rows = [line[2:-2].split(" | ") for line in section.splitlines() if line.startswith("| ")][1:]
    labelled = [(name if len(reports[folder]) == 1 else f"{name}: {ev.name}", ev)
                for name, folder in named.items() for ev in reports[folder]]
    expected = [(label, target, t) for label, ev in labelled for target, t in ev.metrics["paired"]["targets"].items()]
    assert [row[:2] for row in rows] == [[label, target] for label, target, _ in expected]
    for row, (_, _, t) in zip(rows, expected):
        for i, keys in ((2, ("ssim",)), (5, ("psnr",)), (8, ("tumour", "ssim"))):
            model = mean(t, keys)
            if model is None:
                assert row[i:i + 3] == ["—"] * 3
                continue
            best = max(t["baselines"], key=lambda b: mean(t["baselines"][b], keys))
            value, name = row[i + 1].split(" (")
            assert name == best + ")"
            assert math.isclose(float(row[i].split(" ± ")[0]), model, rel_tol=1e-3)
            assert math.isclose(float(value), mean(t["baselines"][best], keys), rel_tol=1e-3)
            assert math.isclose(float(row[i + 2]), model - mean(t["baselines"][best], keys), abs_tol=0.006)
    assert all(f"{name}={folder}" in section for name, folder in named.items())
    for label, ev in labelled:
        m = ev.metrics
        assert f"- **{label}**: run `{m['run']['dir']}`" in section and f"`{m['command']}`" in section
        assert f"{m['run']['training']['steps_trained']} steps" in section
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RESULTS.md", "table.json"]   # no temporary left


def test_results_names_the_training_command_of_a_run_it_can_read(page, tmp_path, capsys):
    run = RunDir(tmp_path / "run")
    cfg = resolve("pix2pix", "smoke", "phantom", {"target": "any"})
    cfg.steps = 7
    run.save_config(cfg)
    ev = evaluation("one", 0)
    ev.metrics["run"]["dir"] = str(run.path)
    write_report([ev], tmp_path / "report", ev.metrics["command"])
    assert results.main(["--evaluation", f"seen={tmp_path / 'report'}", "--page", str(page)]) == 0
    section = between(page.read_text(), results.EVALUATIONS_BEGIN, results.EVALUATIONS_END)
    assert ("trained by `python -m mri_gan.train --model pix2pix --data phantom --target any --preset smoke "
            "--set steps=7 --out RUN`") in section
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("case", ["missing", "not a report", "no paired figures", "not NAME=REPORT",
                                  "a name twice", "damaged markers"])
def test_results_refuses_a_bad_evaluation_in_one_line(page, tmp_path, reports, capsys, case):
    folder = next(folder for folder, evals in reports.items() if len(evals) == 1)
    arg, problem = f"x={folder}", None
    if case == "missing":
        arg, problem = f"x={tmp_path / 'none'}", f"{tmp_path / 'none' / 'metrics.json'}: cannot read"
    elif case == "not a report":
        (tmp_path / "list").mkdir()
        (tmp_path / "list" / "metrics.json").write_text("[1, 2]")
        arg, problem = f"x={tmp_path / 'list'}", f"{tmp_path / 'list'}: not a report of paired"
    elif case == "no paired figures":
        shutil.copytree(folder, tmp_path / "generative")
        document = json.loads((tmp_path / "generative" / "metrics.json").read_text())
        del document["paired"]
        (tmp_path / "generative" / "metrics.json").write_text(json.dumps(document))
        arg, problem = f"x={tmp_path / 'generative'}", f"{tmp_path / 'generative'}: not a report of paired " \
                                                        "(held-out synthesis) figures (no 'paired')"
    elif case == "not NAME=REPORT":
        arg, problem = folder, f"{folder}: expected NAME=REPORT_FOLDER"
    elif case == "a name twice":
        arg, problem = f"x={folder} x={folder}", f"x={folder}: expected NAME=REPORT_FOLDER, each NAME once"
    else:
        page.write_text(page.read_text().replace(results.EVALUATIONS_END + "\n", ""))
        problem = f"{page}: needs one line {results.EVALUATIONS_BEGIN!r}"
    before = page.read_text()
    assert results.main(["--evaluation", *arg.split(), "--page", str(page)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(problem), err
    assert page.read_text() == before


def test_results_pools_the_folds_of_a_cross_validation(page, tmp_path, capsys):
    folds = []
    for i, subjects in enumerate((["a", "b"], ["c", "d", "e"])):
        ev = evaluation(f"fold{i}", i)
        if i == 0:   # this fold's run is at hand: its line names its split file
            run = RunDir(tmp_path / "run0")
            run.save_config(resolve("pix2pix", "smoke", "phantom", {"target": "any"}))
            ev.metrics["run"]["dir"] = str(run.path)
        for t in ev.metrics["paired"]["targets"].values():
            for row in (t, *t["baselines"].values()):
                row["subjects"] = len(subjects)
                row["per_subject"] = {s: {"ssim": row["ssim"]["mean"], "psnr": row["psnr"]["mean"]} for s in subjects}
        write_report([ev], tmp_path / f"fold-{i}", ev.metrics["command"])
        folds.append(ev)
    arg = f"cv={tmp_path / 'fold-0'},{tmp_path / 'fold-1'}"
    assert results.main(["--folds", arg, "--page", str(page)]) == 0, capsys.readouterr().err
    section = between(page.read_text(), results.EVALUATIONS_BEGIN, results.EVALUATIONS_END)
    rows = {(r[0], r[1]): r for r in (line[2:-2].split(" | ") for line in section.splitlines()
                                      if line.startswith("| cv"))}
    assert ("cv (fold-0)", "t1") in rows and ("cv (fold-1)", "flair") in rows
    for target in ("t1", "flair"):
        ts = [ev.metrics["paired"]["targets"][target] for ev in folds]
        pooled = rows["cv, 2 folds pooled (5 subjects)", target]
        model = (2 * ts[0]["psnr"]["mean"] + 3 * ts[1]["psnr"]["mean"]) / 5
        base = {b: (2 * ts[0]["baselines"][b]["psnr"]["mean"] + 3 * ts[1]["baselines"][b]["psnr"]["mean"]) / 5
                for b in ts[0]["baselines"]}
        best = max(base, key=base.get)
        assert math.isclose(float(pooled[5].split(" ± ")[0]), model, rel_tol=1e-3)
        spread = [ts[0]["psnr"]["mean"]] * 2 + [ts[1]["psnr"]["mean"]] * 3   # each subject at its fold's mean (std 1)
        assert math.isclose(float(pooled[5].split(" ± ")[1]), (float(np.var(spread)) + 1.0) ** 0.5, rel_tol=1e-3)
        value, name = pooled[6].split(" (")
        assert name == best + ")" and math.isclose(float(value), base[best], rel_tol=1e-3)
        assert math.isclose(float(pooled[7]), model - base[best], abs_tol=0.006)
    assert f"--split {tmp_path / 'run0' / 'split.json'} --out RUN`" in section
    assert section.count("--split") == 1   # fold-1's run is not at hand: no training command
    before = page.read_text()
    again = f"cv={tmp_path / 'fold-0'},{tmp_path / 'fold-0'}"
    assert results.main(["--folds", again, "--page", str(page)]) == 2
    assert "folds must test each subject once" in capsys.readouterr().err and page.read_text() == before
    assert results.main(["--evaluation", arg, "--page", str(page)]) == 2
    assert "one report folder per NAME" in capsys.readouterr().err and page.read_text() == before
