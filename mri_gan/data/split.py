"""Subject-level splits, deterministic by seed, persisted as split.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mri_gan.errors import UserError

SPLITS = ("train", "val", "test")


def split_subjects(subjects, seed: int = 0, val_fraction: float = 0.15,
                   test_fraction: float = 0.15) -> dict[str, list[str]]:
    """Shuffle unique subjects with ``seed`` and cut them into train / val / test.

    Each non-empty fraction gets at least one subject when there are three or more subjects.
    """
    unique = sorted(set(str(s) for s in subjects))
    order = np.random.default_rng(seed).permutation(len(unique))
    shuffled = [unique[i] for i in order]
    n = len(shuffled)
    n_val = int(round(n * val_fraction))
    n_test = int(round(n * test_fraction))
    if n >= 3:
        n_val = max(n_val, 1 if val_fraction > 0 else 0)
        n_test = max(n_test, 1 if test_fraction > 0 else 0)
    n_train = n - n_val - n_test
    if n_train < 1:
        raise UserError("split", f"{n} subject(s) are too few for val {val_fraction} / test {test_fraction}")
    split = {"train": sorted(shuffled[:n_train]),
             "val": sorted(shuffled[n_train:n_train + n_val]),
             "test": sorted(shuffled[n_train + n_val:])}
    check_disjoint(split)
    return split


def folds(subjects, k: int, seed: int = 0, val_fraction: float = 0.15) -> list[dict[str, list[str]]]:
    """``k`` splits for cross-validation: the subjects, shuffled with ``seed``, cut into ``k``
    test sets of nearly equal size (each subject is tested in exactly one fold); in each fold
    ``val_fraction`` of the other subjects (at least one where the fraction is not 0) validate and
    the rest train."""
    unique = sorted(set(str(s) for s in subjects))
    if not 2 <= k <= len(unique):
        raise UserError("--k", f"{k} must be 2 to {len(unique)} (the number of subjects)")
    if not 0.0 <= val_fraction < 1.0:
        raise UserError("--val-fraction", f"{val_fraction} must be in [0, 1)")
    rng = np.random.default_rng(seed)
    shuffled = [unique[i] for i in rng.permutation(len(unique))]
    out = []
    for test in np.array_split(np.array(shuffled, dtype=object), k):
        held = set(test)
        rest = [s for s in shuffled if s not in held]
        rest = [rest[i] for i in rng.permutation(len(rest))]
        n_val = max(int(round(len(rest) * val_fraction)), 1 if val_fraction > 0 else 0)
        if n_val >= len(rest):
            raise UserError("--val-fraction", f"{val_fraction} leaves no training subject in a fold of {k}")
        out.append({"train": sorted(rest[n_val:]), "val": sorted(rest[:n_val]), "test": sorted(test)})
    return out


def check_disjoint(split: dict[str, list[str]], where: str = "split") -> None:
    """Refuse a subject that appears in two splits."""
    seen: dict[str, str] = {}
    for name in SPLITS:
        for subject in split.get(name, []):
            if subject in seen:
                raise UserError(where, f"subject {subject!r} is in both {seen[subject]} and {name}")
            seen[subject] = name


def given_split(path, subjects) -> dict[str, list[str]]:
    """The split in ``path`` (a split.json: ``train``, ``val``, ``test`` lists of subject names)
    checked against the data's ``subjects``: lists disjoint, every name in the data, a training
    subject. Subjects of the data in no list are not used."""
    split = load_split(path)
    unknown = set(split) - set(SPLITS)
    if unknown:
        raise UserError(path, f"unknown list(s) {', '.join(sorted(unknown))} (known: {', '.join(SPLITS)})")
    present = set(str(s) for s in subjects)
    absent = sorted(str(s) for name in SPLITS for s in split.get(name, []) if str(s) not in present)
    if absent:
        raise UserError(path, f"{len(absent)} subject(s) not in the data: {', '.join(absent[:5])}"
                              + (" ..." if len(absent) > 5 else ""))
    if not split.get("train"):
        raise UserError(path, "no training subjects")
    return {name: sorted(str(s) for s in split.get(name, [])) for name in SPLITS}


def save_split(split: dict[str, list[str]], path: Path) -> None:
    check_disjoint(split, str(path))
    Path(path).write_text(json.dumps(split, indent=1) + "\n")


def load_split(path: Path) -> dict[str, list[str]]:
    try:
        split = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(path, f"cannot read split: {err}") from None
    if not isinstance(split, dict) or not all(isinstance(split.get(name, []), list) for name in SPLITS):
        raise UserError(path, "a split is a JSON object of lists: train, val, test")
    check_disjoint(split, str(path))
    return split
