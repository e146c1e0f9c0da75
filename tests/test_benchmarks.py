"""Every benchmark runs at its tiny size (``MRI_GAN_BENCH_TINY=1``) and prints only finite positive
figures, so none breaks unnoticed; `make bench`'s table has a finite positive cell wherever it has
a figure; and `python -m benchmarks results` rewrites only the generated section of (a copy of)
the results page from the figures the table saved."""

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
