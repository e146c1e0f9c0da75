"""Restoring checkpoints, falling back past a damaged newest one; the best one by validation."""

from __future__ import annotations

import tensorflow as tf

from mri_gan import notices
from mri_gan.errors import UserError
from mri_gan.run_dir import RunDir

#: which checkpoint inference uses: the best by validation where the run has one, or the newest
CHOICES = ("best", "latest")


def restore_latest(checkpoint: tf.train.Checkpoint, run: RunDir, best: bool = False, partial: bool = False) -> str:
    """Restore the run's newest readable checkpoint (of checkpoints/best/ with ``best``); warn on
    each unreadable one passed over."""
    paths = run.checkpoints(best)
    if not paths:
        raise UserError(run.checkpoint_dir(best), "no checkpoint to restore")
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
    raise UserError(run.checkpoint_dir(best), "no readable checkpoint")


def save_best(manager: tf.train.CheckpointManager, run: RunDir, step: int, metric: str, value: float) -> None:
    """Save the best checkpoint (``manager`` writes the run's checkpoints/best/) and its record,
    the record last, so that it never names a missing one."""
    manager.save(checkpoint_number=step)
    run.save_best_record(step, metric, value)


def restore_for_inference(checkpoint: tf.train.Checkpoint, run: RunDir, which: str = "best") -> str:
    """Restore the best checkpoint (``which="best"``, where the run kept one) or the newest."""
    if which not in CHOICES:
        raise UserError("--checkpoint", f"unknown checkpoint {which!r} (known: {', '.join(CHOICES)})")
    best = which == "best" and bool(run.checkpoints(best=True))
    return restore_latest(checkpoint, run, best=best, partial=True)
