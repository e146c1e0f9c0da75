"""A run directory: the files `mri-gan train` writes and every later command reads.

| path | what |
|---|---|
| ``config.json`` | the resolved TrainConfig |
| ``model.json`` | what inference needs besides the config, and the runtime of each session |
| ``split.json`` | ``{"train": [subject ids], "val": [...], "test": [...]}`` |
| ``metrics.jsonl`` | one JSON object per logged step |
| ``checkpoints/`` | the newest checkpoints; ``checkpoints/best/`` the best by validation, ``best.json`` its record |
| ``samples/step_<step>.png`` | sample grids |
| ``tensorboard/`` | summaries |
| ``samples.npz``, ``generated/samples.npz`` | images `mri-gan generate` wrote into the run (optional) |

A shipped-model folder (mri_gan.pretrained) holds ``config.json``, ``model.json`` and ``split.json``
too, and reads as a run. Every file but the appended metrics log is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mri_gan.atomic import atomic_file
from mri_gan.config import TrainConfig
from mri_gan.data import split as splits
from mri_gan.errors import UserError

CONFIG = "config.json"
MODEL = "model.json"
SPLIT = "split.json"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
#: the sub-folder of checkpoints/ that holds the checkpoint with the best validation figure
BEST = "best"
BEST_RECORD = "best.json"
SAMPLES = "samples"
TENSORBOARD = "tensorboard"
GENERATED = ("samples.npz", "generated/samples.npz")


def _logged_step(line: str) -> float:
    """The step of a metrics.jsonl line; infinite for a blank line or one cut short by a kill."""
    try:
        return json.loads(line).get("step", 0)
    except ValueError:
        return np.inf


def _write_json(path: Path, data) -> None:
    with atomic_file(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n")


class RunDir:
    """The files of one run directory, by name, and their reading and writing."""

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- paths -------------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / CONFIG

    @property
    def model_file(self) -> Path:
        return self.path / MODEL

    @property
    def split_file(self) -> Path:
        return self.path / SPLIT

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS

    @property
    def samples_dir(self) -> Path:
        return self.path / SAMPLES

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD

    def checkpoint_dir(self, best: bool = False) -> Path:
        """checkpoints/, or checkpoints/best/ (the best by validation)."""
        return self.path / CHECKPOINTS / BEST if best else self.path / CHECKPOINTS

    def sample_file(self, step: int) -> Path:
        return self.samples_dir / f"step_{step:07d}.png"

    # -- the run as a whole ------------------------------------------------------------------
    def is_run(self) -> bool:
        """Whether a run was started here (config.json written)."""
        return self.config_file.exists()

    def check(self) -> RunDir:
        """This run directory, once sure it is one: one-line errors for a folder that is not."""
        if not self.path.is_dir():
            raise UserError(self.path, "no such run directory")
        for path in (self.config_file, self.model_file):
            if not path.exists():
                raise UserError(self.path, f"not a run directory ({path.name} missing)")
        return self

    def load(self) -> tuple[TrainConfig, dict]:
        """The run's config and model.json, checked to be a run first."""
        self.check()
        return self.config(), self.meta()

    # -- config.json, model.json, split.json -------------------------------------------------
    def config(self) -> TrainConfig:
        return TrainConfig.load(self.config_file)

    def save_config(self, cfg: TrainConfig) -> None:
        with atomic_file(self.config_file, overwrite=True) as tmp:
            cfg.save(tmp)

    def meta(self) -> dict:
        """model.json (one-line errors where it is missing or not JSON)."""
        try:
            return json.loads(self.model_file.read_text())
        except OSError as err:
            raise UserError(self.model_file, f"cannot read: {err.strerror or err}") from None
        except json.JSONDecodeError as err:
            raise UserError(self.model_file, f"not valid JSON: {err}") from None

    def save_meta(self, meta: dict) -> None:
        _write_json(self.model_file, meta)

    def has_split(self) -> bool:
        return self.split_file.exists()

    def split(self) -> dict[str, list[str]]:
        return splits.load_split(self.split_file)

    def save_split(self, split: dict[str, list[str]]) -> None:
        with atomic_file(self.split_file, overwrite=True) as tmp:
            splits.save_split(split, tmp)

    # -- metrics.jsonl -----------------------------------------------------------------------
    def metrics(self) -> list[dict]:
        """The logged entries ([] before the first); a line that is not JSON is a one-line error."""
        if not self.metrics_file.is_file():
            return []
        entries = []
        for n, line in enumerate(self.metrics_file.read_text().splitlines(), 1):
            if line.strip():
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise UserError(self.metrics_file, f"line {n} is not JSON: {err}") from None
        return entries

    def append_metrics(self, entry: dict) -> None:
        with open(self.metrics_file, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def truncate_metrics(self, step: int) -> None:
        """Drop entries past ``step`` (and a line cut short by a kill), so that a resumed run's
        steps stay continuous."""
        if not self.metrics_file.exists():
            return
        lines = self.metrics_file.read_text().splitlines()
        kept = [line for line in lines if _logged_step(line) <= step]
        if len(kept) != len(lines):
            with atomic_file(self.metrics_file, overwrite=True) as tmp:
                tmp.write_text("".join(line + "\n" for line in kept))

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoints(self, best: bool = False) -> list[str]:
        """Checkpoint prefixes in checkpoints/ (or checkpoints/best/), newest first."""
        import tensorflow as tf

        directory = self.checkpoint_dir(best).absolute()
        state = tf.train.get_checkpoint_state(str(directory))
        if state is None:
            return []
        paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
        return [p if Path(p).is_absolute() else str(directory / p) for p in reversed(paths)]

    def best_record(self) -> dict | None:
        """{"step", "metric", "value"} of the best checkpoint, or None without one."""
        try:
            return json.loads((self.checkpoint_dir(best=True) / BEST_RECORD).read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def save_best_record(self, step: int, metric: str, value: float) -> None:
        with atomic_file(self.checkpoint_dir(best=True) / BEST_RECORD, overwrite=True) as tmp:
            tmp.write_text(json.dumps({"step": step, "metric": metric, "value": value}) + "\n")

    # -- samples -----------------------------------------------------------------------------
    def save_sample(self, step: int, image: np.ndarray) -> Path:
        """Write a uint8 sample grid as samples/step_<step>.png."""
        import cv2

        path = self.sample_file(step)
        with atomic_file(path, overwrite=True) as tmp:
            if not cv2.imwrite(str(tmp), image):
                raise UserError(path, "cannot write this image")
        return path

    def samples(self) -> list[Path]:
        """The sample grids, oldest first."""
        return sorted(self.samples_dir.glob("step_*.png")) if self.samples_dir.is_dir() else []

    def generated_samples(self) -> Path | None:
        """The first samples.npz that `mri-gan generate` wrote into the run, or None."""
        return next((self.path / name for name in GENERATED if (self.path / name).is_file()), None)


def load_run(path) -> tuple[TrainConfig, dict]:
    """A run's config and model.json, with one-line errors for a folder that is not a run."""
    return RunDir(path).load()
