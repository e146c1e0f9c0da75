"""Restoring checkpoints, falling back past a damaged newest one."""

from __future__ import annotations

import sys
from pathlib import Path

import tensorflow as tf

from mri_gan.errors import UserError


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
            sys.stderr.write(f"mri-gan: warning: {path}: unreadable checkpoint ({first[:120]}); "
                             f"falling back to the previous one\n")
    raise UserError(directory, "no readable checkpoint")
