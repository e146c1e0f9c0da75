"""DCGAN's and cDCGAN's options (``TrainConfig.dcgan``); no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass

from mri_gan.errors import UserError
from mri_gan.models.generative_config import GenerativeConfig


@dataclass
class DCGANConfig(GenerativeConfig):
    g_filters: int = 64
    d_filters: int = 64
    label_smoothing: float = 0.0      # D's target for real images is 1 - this (one-sided)
    minibatch_std: bool = False       # D sees each batch's feature spread (against mode collapse)

    def validate(self, image_size: int) -> None:
        if not 0.0 <= self.label_smoothing < 0.5:
            raise UserError("--set", f"label_smoothing={self.label_smoothing} must be in [0, 0.5)")
