"""Model families. ``task_class`` maps a config's model name to its GANTask."""

from __future__ import annotations


def task_class(model: str):
    """The GANTask class of a model name (explicit imports, no string lookups by importlib)."""
    if model in ("dcgan", "cdcgan"):
        from mri_gan.models.dcgan import DCGAN
        return DCGAN
    if model == "pix2pix":
        from mri_gan.models.pix2pix import Pix2Pix
        return Pix2Pix
    if model == "pggan":
        from mri_gan.models.pggan import PGGAN
        return PGGAN
    raise ValueError(f"unknown model {model!r}")
