"""The input check of ``translate`` shared by a trained Pix2Pix (``models.pix2pix``) and an
exported one (``serving``): one place says what a translation or imputation model accepts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mri_gan.data.records import SEQUENCES, canonical_sequence
from mri_gan.errors import UserError


@dataclass(frozen=True)
class TranslateInput:
    """Checked inputs of one ``translate`` call."""

    images: np.ndarray         # [N, S, S, 4 (2k + 1)] float32, SEQUENCES order per slice block (data.context)
    target: int                # the target's index in SEQUENCES
    given: np.ndarray          # [N, 4] bool: the inputs the model may read (never the target's, for imputation)
    channels: list[int] | None  # the sources' indices in SEQUENCES (translation), None for imputation


def check_translate(model, images, available, target: str) -> TranslateInput:
    """Check a ``model.translate(images, available, target)`` call; ``model`` says what it is by
    ``imputation`` (any target from the others) or ``sources`` and ``target`` (translation), and
    ``context`` (axial neighbours on each side, whose blocks follow the slice's channels). A
    UserError names what is wrong: an unknown or other target, a missing source, a slice with
    nothing else given, slices without their neighbours."""
    name = canonical_sequence(target, "--target")
    images = np.asarray(images, np.float32)
    k = model.context
    if images.ndim != 4 or images.shape[-1] != (2 * k + 1) * len(SEQUENCES):
        raise UserError("--input", f"this model reads {2 * k + 1} axial slice(s) of the {len(SEQUENCES)} "
                                   f"sequences ({(2 * k + 1) * len(SEQUENCES)} channels); got slices of shape "
                                   f"{list(images.shape[1:])}")
    have = np.broadcast_to(np.asarray(available, bool), (len(images), len(SEQUENCES)))
    t = SEQUENCES.index(name)
    if model.imputation:
        given = have.copy()
        given[:, t] = False
        if not given.any(axis=1).all():
            raise UserError("--input", f"imputing {name} needs at least one other sequence")
        return TranslateInput(images, t, given, None)
    if name != model.target:
        raise UserError("--target", f"this model synthesizes {model.target}, not {name}")
    lacking = [s for s in model.sources if not have[:, SEQUENCES.index(s)].all()]
    if lacking:
        raise UserError("--input", f"this model needs {', '.join(model.sources)}; missing: {', '.join(lacking)}")
    return TranslateInput(images, t, have, [SEQUENCES.index(s) for s in model.sources])
