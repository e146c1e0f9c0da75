"""`mri-gan data inspect / preview / folds` end to end through subprocess."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from make_data import SECRET_ID, SECRET_NAME, dicom_series, gray_u8, write_image
from PIL import Image

pytestmark = pytest.mark.slow


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def expected_summary(folder: Path) -> dict:
    """The counts `data inspect --json` must give for a ../shared/data folder, from its manifests."""
    name = folder.name
    others = sum(1 for p in folder.rglob("*") if p.is_file())
    if name.startswith("brain_tumor"):
        rows = read_csv(folder / "manifest.csv")
        n = len(rows)
        return {"kind": "folder", "subjects": n, "slices": n, "sequences": {"t1": n},
                "labels": dict(Counter(r["label"] for r in rows)),
                "skipped": {"not an image": others - n}}
    if name.startswith("lgg"):
        patients = read_csv(folder / "manifest_patients.csv")
        slices = read_csv(folder / "manifest_slices.csv")
        n = len(slices)
        copied = [p for p in patients if p["postcontrast_missing_replaced_by_flair"] == "1"]
        tumor = sum(r["has_tumor"] == "1" for r in slices)
        return {"kind": "slices", "subjects": len(patients), "slices": n,
                "sequences": {"t1": n, "t1ce": n - sum(int(p["n_slices"]) for p in copied), "flair": n},
                "labels": {"no_tumor": n - tumor, "tumor": tumor},
                "image_shapes": {"256x256": n},
                "skipped": {"not an image": others - 2 * n},
                "missing_sequences": {p["patient_folder"]: ["t1ce"] for p in copied}}
    rows = read_csv(folder / "manifest.csv")
    return {"kind": "brats", "subjects": len({r["case"] for r in rows}), "labels": {},
            "skipped": {"not a NIfTI file": others - len(rows)}, "missing_sequences": {}}


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["brain_tumor_mri_4class", "brain_tumor_yes_no", "lgg_mri_3contrast_slices",
                                  "brats_4contrast_volumes"])
def test_inspect_json_counts_match_manifests(cli, real_data_dir, name):
    folder = real_data_dir / name
    summary = json.loads(cli("data", "inspect", folder, "--json", check=0).stdout)
    expected = expected_summary(folder)
    assert {key: summary[key] for key in expected} == expected
    assert set(summary) >= {"kind", "subjects", "slices", "sequences", "labels", "image_shapes", "skipped"}
    if summary["kind"] == "brats":
        assert set(summary["sequences"]) == {"t1", "t1ce", "t2", "flair"}
        assert set(summary["sequences"].values()) == {summary["slices"]}
        assert summary["image_shapes"] == {"240x240": summary["slices"]}


def test_inspect_phantom(cli):
    summary = json.loads(cli("data", "inspect", "phantom?subjects=6&size=32", "--json", "--size", "16",
                             check=0).stdout)
    n = summary["slices"]
    assert summary["kind"] == "phantom" and summary["subjects"] == 6 and n >= 6
    assert summary["sequences"] == {"t1": n, "t1ce": n, "t2": n, "flair": n}
    assert sum(summary["labels"].values()) == n and set(summary["labels"]) <= {"tumor", "no_tumor"}
    assert summary["image_shapes"] == {"32x32": n} and summary["skipped"] == {}
    assert summary["preprocessed"]["shape"] == [n, 16, 16, 4]
    lo, hi = summary["preprocessed"]["range"]
    assert -1.0 <= lo < hi <= 1.0
    bright = summary["lesion_brightness"]  # docs/phantom.md: lesions long T1 and T2, not free water
    assert bright["t2"] > bright["flair"] > 1.3 > bright["t1"]


def test_inspect_human_readable(cli, tmp_path):
    for label in ("yes", "no"):
        write_image(tmp_path / label / "a.png", gray_u8())
    (tmp_path / "README.md").write_text("notes")
    out = cli("data", "inspect", tmp_path, check=0).stdout
    assert "subjects:      2" in out and "labels:        no 1, yes 1" in out
    assert "skipped:       not an image 1" in out


def test_preview_outlines_tumour(cli, tmp_path):
    out = tmp_path / "sub" / "grid.png"
    proc = cli("data", "preview", "phantom?subjects=6&size=32", "--out", out, "--subjects", "3", check=0)
    assert "(3 subject(s) x 4 sequence(s))" in proc.stdout
    rgb = np.asarray(Image.open(out).convert("RGB")).astype(int)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)
    assert red.sum() > 50                                   # tumour outlines
    assert sorted(p.name for p in out.parent.iterdir()) == ["grid.png"]   # no temporary file left


def test_preview_and_inspect_keep_dicom_headers_private(cli, tmp_path):
    dicom_series(tmp_path / "series_1")
    dicom_series(tmp_path / "series_2", zs=(0, 1))
    out = tmp_path / "grid.png"
    inspect = cli("data", "inspect", tmp_path, "--json", check=0)
    preview = cli("data", "preview", tmp_path, "--out", out, check=0)
    assert json.loads(inspect.stdout)["subjects"] == 2
    for text in (inspect.stdout, inspect.stderr, preview.stdout, preview.stderr):
        assert SECRET_NAME not in text and SECRET_ID not in text and "SECRET" not in text
    assert b"SECRET" not in out.read_bytes()
    assert Image.open(out).size[0] > 50


def test_folds_feed_train_split(cli, tmp_path):
    source = "phantom?subjects=7&size=32"
    out = tmp_path / "folds"
    proc = cli("data", "folds", source, "--k", "3", "--out", out, check=0)
    assert "wrote 3 folds of 7 subjects" in proc.stdout
    made = [json.loads((out / f"fold-{i}.json").read_text()) for i in (1, 2, 3)]
    assert sorted(s for fold in made for s in fold["test"]) == [f"phantom-{i:03d}" for i in range(7)]
    before = {p.name: p.read_text() for p in out.iterdir()}
    for args, problem in ((("--k", "3"), "not empty"), (("--k", "8"), "must be 2 to 7")):
        proc = cli("data", "folds", source, *args, "--out", out if problem == "not empty" else tmp_path / "new")
        assert proc.returncode == 2 and problem in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert {p.name: p.read_text() for p in out.iterdir()} == before and not (tmp_path / "new").exists()
    run = tmp_path / "run"
    cli("train", "--model", "pix2pix", "--data", source, "--source", "t1", "--target", "t2", "--preset", "smoke",
        "--set", "steps=1", "--split", out / "fold-2.json", "--out", run, "--no-progress", check=0)
    assert json.loads((run / "split.json").read_text()) == made[1]


def test_help(cli):
    inspect = cli("data", "inspect", "--help", check=0).stdout
    preview = cli("data", "preview", "--help", check=0).stdout
    assert "SOURCE" in inspect and "--strict" in inspect and "--size" in inspect and "--json" in inspect
    assert "--out" in preview and "--subjects" in preview
