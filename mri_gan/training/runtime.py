"""How a run trained: strategy, replicas, workers, devices, precision and software versions.

The trainer appends one record per session (the first one at step 0, then one per ``--resume``)
to the ``runtime`` list of the run's model.json; ``describe`` says it in one line for reports.
"""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

from mri_gan import __version__

#: the folder holding the mri_gan package: a git work tree when mri_gan runs from a clone
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    if not (SOURCE_ROOT / ".git").exists():
        return None
    try:
        proc = subprocess.run(["git", "-C", str(SOURCE_ROOT), *args], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def source_version() -> dict:
    """{"git_commit", "git_modified"} of the clone mri_gan runs from; both None outside one."""
    commit = _git("rev-parse", "HEAD")
    changes = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_modified": None if changes is None else bool(changes)}


def record(strategy, precision: str, from_step: int, precision_setting: str | None = None) -> dict:
    """This session's entry: where it ran (a tf.distribute strategy), in which precision policy
    (and the config's setting it was resolved from, e.g. auto) and with what software."""
    import keras
    import tensorflow as tf

    from mri_gan.training.distribute import strategy_name, worker_count

    if strategy_name(strategy) == "default":
        devices = (tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))[:1]
        devices = [d.name for d in devices]
    else:
        devices = list(strategy.extended.worker_devices)
    return {"from_step": from_step, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "strategy": strategy_name(strategy), "replicas": int(strategy.num_replicas_in_sync),
            "workers": worker_count(strategy), "devices": devices, "precision": precision,
            "precision_setting": precision_setting or precision,
            "versions": {"mri_gan": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                         "python": platform.python_version(), **source_version()}}


def _one(entry: dict) -> str:
    devices = ", ".join(d.split("/device:")[-1] for d in entry["devices"])
    v = entry["versions"]
    git = f", git {v['git_commit'][:10]}" + (" (modified)" if v["git_modified"] else "") if v["git_commit"] else ""
    return (f"{entry['strategy']} strategy, {entry['replicas']} replica(s) on {entry['workers']} worker(s) "
            f"({devices}), {entry['precision']}; mri_gan {v['mri_gan']}, TensorFlow {v['tensorflow']}, "
            f"Keras {v['keras']}{git}")


def describe(runtime: list[dict]) -> str:
    """The ``runtime`` list of a model.json in one line ("unrecorded" for runs made before it)."""
    if not runtime:
        return "unrecorded"
    return "; ".join(("" if e["from_step"] == 0 else f"resumed at step {e['from_step']}: ") + _one(e)
                     for e in runtime)
