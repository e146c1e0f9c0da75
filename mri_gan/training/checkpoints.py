"""Restoring checkpoints, falling back past a damaged newest one; the best one by validation."""

from __future__ import annotations

import json
from pathlib import Path

import tensorflow as tf

from mri_gan import notices
from mri_gan.atomic import atomic_file
from mri_gan.errors import UserError

#: the sub-folder of checkpoints/ that holds the checkpoint with the best validation figure
BEST = "best"
BEST_RECORD = "best.json"
#: which checkpoint inference uses: the best by validation where the run has one, or the newest
CHOICES = ("best", "latest")


def candidates(directory: Path) -> list[str]:
    """Checkpoint prefixes in the directory, newest first."""
    directory = Path(directory).absolute()
    state = tf.train.get_checkpoint_state(str(directory))
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    return [p if Path(p).is_absolute() else str(Path(directory) / p) for p in reversed(paths)]


def restore_latest(checkpoint: tf.train.Checkpoint, directory: Path, partial: bool = False) -> str:
    """Restore the newest readable checkpoint; warn on each unreadable one passed over."""
    paths = candidates(directory)
    if not paths:
        raise UserError(directory, "no checkpoint to restore")
    for path in paths:
        try:
            status = checkpoint.restore(path)
            if partial:
                status.expect_partial()
            else:
                status.assert_existing_objects_matched()
            return path
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            notices.warn(path, f"unreadable checkpoint ({first[:120]}); falling back to the previous one")
    raise UserError(directory, "no readable checkpoint")


def best_record(run_dir: Path) -> dict | None:
    """{"step", "metric", "value"} of the run's best checkpoint, or None without one."""
    path = Path(run_dir) / "checkpoints" / BEST / BEST_RECORD
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def save_best(manager: tf.train.CheckpointManager, step: int, metric: str, value: float) -> None:
    """Save the best checkpoint and its record (the record last, so it never names a missing one)."""
    manager.save(checkpoint_number=step)
    with atomic_file(Path(manager.directory) / BEST_RECORD, overwrite=True) as tmp:
        tmp.write_text(json.dumps({"step": step, "metric": metric, "value": value}) + "\n")


def restore_for_inference(checkpoint: tf.train.Checkpoint, run_dir: Path, which: str = "best") -> str:
    """Restore the best checkpoint (``which="best"``, where the run kept one) or the newest."""
    if which not in CHOICES:
        raise UserError("--checkpoint", f"unknown checkpoint {which!r} (known: {', '.join(CHOICES)})")
    best = Path(run_dir) / "checkpoints" / BEST
    if which == "best" and candidates(best):
        return restore_latest(checkpoint, best, partial=True)
    return restore_latest(checkpoint, Path(run_dir) / "checkpoints", partial=True)
