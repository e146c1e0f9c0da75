"""A run directory's description: its config.json and model.json."""

from __future__ import annotations

import json
from pathlib import Path

from mri_gan.config import TrainConfig
from mri_gan.errors import UserError


def load_run(run_dir) -> tuple[TrainConfig, dict]:
    """A run's config and model.json, with one-line errors for a folder that is not a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(run_dir, "no such run directory")
    for name in ("config.json", "model.json"):
        if not (run_dir / name).exists():
            raise UserError(run_dir, f"not a run directory ({name} missing)")
    cfg = TrainConfig.load(run_dir / "config.json")
    try:
        meta = json.loads((run_dir / "model.json").read_text())
    except json.JSONDecodeError as err:
        raise UserError(run_dir / "model.json", f"not valid JSON: {err}") from None
    return cfg, meta
