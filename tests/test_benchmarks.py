"""Every benchmark runs at its tiny size (``MRI_GAN_BENCH_TINY=1``) and prints only finite positive
figures, so none breaks unnoticed; and `make bench`'s table has a finite positive cell wherever
it has a figure."""

import math
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from benchmarks.__main__ import NAMES
from benchmarks.common import TINY_ENV

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


def test_bench_table_has_every_column_and_finite_positive_cells():
    proc = run_benchmarks("table")
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
