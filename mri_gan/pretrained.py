"""The imputation model shipped with the package (``mri_gan/shipped/impute/``), loaded with no
network access and no checkpoint machinery; ``--run pretrained`` (or no ``--run``) selects it.

A shipped-model folder holds the run's ``config.json`` and ``model.json`` (so ``run_dir.RunDir``
reads it as a run; model.json gains a ``shipped`` record: name, version, the run and checkpoint
it came from), the run's ``split.json``, ``MODEL_CARD.md`` and ``generator.npz``: the
generator's weights only (no discriminator, no optimizer state), one array per variable in the
model's order (the order checkpoints use: Keras's variable paths change with the layers built
before in the process), keyed ``<index> <variable path>``. Floating-point weights are stored as
float16 (two bytes a parameter instead of four, which keeps the quick preset's generator within
the package's size limit) and cast back to the variables' float32 on load. ``mri_gan.packing``
writes such a folder from a trained run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mri_gan.errors import UserError
from mri_gan.models import task_class
from mri_gan.run_dir import CONFIG, MODEL, RunDir

#: where the package keeps its shipped model (package data)
FOLDER = Path(__file__).resolve().parent / "shipped" / "impute"
#: the ``--run`` value that names it
NAME = "pretrained"
WEIGHTS = "generator.npz"
CARD = "MODEL_CARD.md"
FILES = (CONFIG, MODEL, WEIGHTS, CARD)
STORED = np.float16


def available(folder=None) -> bool:
    """Whether ``folder`` (default: the package's) holds a shipped model."""
    folder = Path(folder or FOLDER)
    return all((folder / name).is_file() for name in FILES)


def locate(run) -> Path:
    """The folder ``run`` names: the package's shipped model for ``None`` or ``"pretrained"``
    (a one-line error where the package holds none), else ``run`` itself."""
    if run is not None and str(run) != NAME:
        return Path(run)
    if not available():
        raise UserError("--run", f"this installation of mri_gan holds no shipped model ({FOLDER} lacks "
                                 f"{', '.join(FILES)}); give --run RUN_DIR")
    return FOLDER


def stored_weights(generator) -> dict[str, np.ndarray]:
    """The generator's variables as ``generator.npz`` stores them (floating ones as float16)."""
    out = {}
    limit = float(np.finfo(STORED).max)
    for i, variable in enumerate(generator.weights):
        array = np.asarray(variable.numpy())
        if np.issubdtype(array.dtype, np.floating):
            if array.size and float(np.abs(array).max()) > limit:
                raise UserError(variable.path, f"holds values beyond float16's range (|x| > {limit:g})")
            array = array.astype(STORED)
        out[f"{i:04d} {variable.path}"] = array
    return out


def assign_weights(generator, path) -> None:
    """Set the generator's variables from a ``generator.npz``, cast to their dtypes."""
    try:
        with np.load(path) as stored:
            arrays = [stored[key] for key in sorted(stored.files)]
    except (OSError, ValueError) as err:
        raise UserError(path, f"not a readable weights file ({err})") from None
    variables = generator.weights
    shapes = [tuple(v.shape) for v in variables]
    if [a.shape for a in arrays] != shapes:
        raise UserError(path, f"its {len(arrays)} arrays do not match the {len(variables)} variables of the "
                              f"generator that config.json builds")
    for variable, array in zip(variables, arrays):
        variable.assign(array.astype(variable.dtype))


def load(folder=None):
    """The task of a shipped-model folder (default: the package's) with its weights assigned."""
    folder = locate(None) if folder is None else Path(folder)
    if not available(folder):
        raise UserError(folder, f"not a shipped-model folder (needs {', '.join(FILES)})")
    cfg, meta = RunDir(folder).load()
    task = task_class(cfg.model)(cfg, meta)
    task.build()
    assign_weights(task.generator, folder / WEIGHTS)
    task.checkpoint = str(folder / WEIGHTS)
    return task
