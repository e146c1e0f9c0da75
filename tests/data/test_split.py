"""Subject-level splits: deterministic, disjoint, complete; slices never cross splits."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from mri_gan.data.slice_set import load
from mri_gan.data.split import SPLITS, check_disjoint, folds, given_split, load_split, save_split, split_subjects
from mri_gan.errors import UserError

SUBJECTS = [f"patient_{i:02d}" for i in range(22)]


def test_split_is_deterministic_disjoint_and_complete():
    split = split_subjects(SUBJECTS, seed=3)
    assert split == split_subjects(list(reversed(SUBJECTS)) + SUBJECTS[:5], seed=3)   # order, repeats
    assert split != split_subjects(SUBJECTS, seed=4)
    members = [s for name in SPLITS for s in split[name]]
    assert sorted(members) == sorted(SUBJECTS) and len(members) == len(set(members))
    assert [len(split[name]) for name in SPLITS] == [16, 3, 3]


@pytest.mark.parametrize("n, fractions, sizes", [
    (3, (0.15, 0.15), [1, 1, 1]),                      # every non-empty part gets a subject
    (10, (0.0, 0.2), [8, 0, 2]),
    (1, (0.0, 0.0), [1, 0, 0]),
])
def test_split_sizes(n, fractions, sizes):
    split = split_subjects(SUBJECTS[:n], 0, *fractions)
    assert [len(split[name]) for name in SPLITS] == sizes


def test_too_few_subjects_is_a_user_error():
    with pytest.raises(UserError, match="too few"):
        split_subjects(SUBJECTS[:2], 0, 0.5, 0.5)


def test_a_subject_in_two_splits_is_refused(tmp_path):
    bad = {"train": ["a", "b"], "val": ["c"], "test": ["b"]}
    with pytest.raises(UserError, match="'b' is in both train and test"):
        check_disjoint(bad)
    with pytest.raises(UserError):
        save_split(bad, tmp_path / "split.json")
    assert not (tmp_path / "split.json").exists()
    (tmp_path / "split.json").write_text(json.dumps(bad))
    with pytest.raises(UserError) as err:
        load_split(tmp_path / "split.json")
    assert err.value.where == str(tmp_path / "split.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot read split"):
        load_split(tmp_path / "broken.json")


def test_save_and_load_round_trip(tmp_path):
    split = split_subjects(SUBJECTS, seed=0)
    save_split(split, tmp_path / "split.json")
    assert load_split(tmp_path / "split.json") == split


def test_a_given_split_is_checked_against_the_data(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"train": ["patient_03", "patient_01"], "test": ["patient_02"]}))
    assert given_split(path, SUBJECTS) == {"train": ["patient_01", "patient_03"], "val": [], "test": ["patient_02"]}
    for content, problem in (({"train": ["patient_01", "ghost"], "test": ["nobody"]}, "2 subject(s) not in the data"),
                             ({"train": [], "test": ["patient_02"]}, "no training subjects"),
                             ({"train": ["patient_01"], "holdout": ["patient_02"]}, "unknown list(s) holdout"),
                             ({"train": "patient_01"}, "JSON object of lists"),
                             (["patient_01"], "JSON object of lists")):
        path.write_text(json.dumps(content))
        with pytest.raises(UserError, match=problem.replace("(", r"\(").replace(")", r"\)")) as err:
            given_split(path, SUBJECTS)
        assert err.value.where == str(path)


@pytest.mark.parametrize("n, k", [(22, 6), (5, 5), (7, 2)])
def test_folds_test_every_subject_once(n, k):
    made = folds(SUBJECTS[:n], k, seed=2)
    assert made == folds(list(reversed(SUBJECTS[:n])), k, seed=2) and made != folds(SUBJECTS[:n], k, seed=3)
    tested = [s for fold in made for s in fold["test"]]
    assert sorted(tested) == sorted(SUBJECTS[:n])
    assert max(len(f["test"]) for f in made) - min(len(f["test"]) for f in made) <= 1
    for fold in made:
        check_disjoint(fold)
        assert sorted(fold["train"] + fold["val"] + fold["test"]) == sorted(SUBJECTS[:n])
        assert fold["train"] and len(fold["val"]) == max(1, round((n - len(fold["test"])) * 0.15))


def test_bad_folds_are_refused():
    with pytest.raises(UserError, match="must be 2 to 4"):
        folds(SUBJECTS[:4], 5)
    with pytest.raises(UserError, match="must be 2 to"):
        folds(SUBJECTS, 1)
    with pytest.raises(UserError, match="leaves no training subject"):
        folds(SUBJECTS[:3], 3, val_fraction=0.9)


def test_slices_follow_their_subject():
    """Every slice of a slice set lands in exactly the split of its subject."""
    slices, _ = load("phantom?subjects=8&size=32", size=16)
    split = split_subjects(slices.subjects, seed=1, val_fraction=0.25, test_fraction=0.25)
    parts = [slices.of_subjects(split[name]) for name in SPLITS]
    assert sum(len(p) for p in parts) == len(slices)
    for part, name in zip(parts, SPLITS):
        assert set(part.subjects) == set(split[name])
    assert not set(parts[0].subjects) & (set(parts[1].subjects) | set(parts[2].subjects))


@pytest.mark.realdata
def test_lgg_patients_split_without_shared_slices(real_data_dir):
    folder = real_data_dir / "lgg_mri_3contrast_slices"
    with open(folder / "manifest_slices.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    patient = np.array([r["patient"] for r in rows])
    split = split_subjects(patient, seed=0)
    owner = {s: name for name in SPLITS for s in split[name]}
    assert set(owner) == set(patient)
    by_split = {name: {r["image"] for r in rows if owner[r["patient"]] == name} for name in SPLITS}
    assert sum(len(v) for v in by_split.values()) == len(rows)
    assert all(by_split[name] for name in SPLITS)
