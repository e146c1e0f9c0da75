"""The progressive GAN's options (``TrainConfig.pggan``); no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass

from mri_gan.errors import UserError
from mri_gan.models.generative_config import GenerativeConfig

AUGMENTATIONS = ("translation", "cutout", "color")   # DiffAugment policies
UPSAMPLINGS = ("nearest", "bilinear")                # G's feature upsampling
LOSSES = ("wgan-gp", "nonsaturating")


@dataclass
class PGGANConfig(GenerativeConfig):
    start_size: int = 4
    images_per_stage: int = 600_000
    fmap_base: int = 2048
    fmap_max: int = 256
    fmap_min: int = 1                 # fewest feature maps at any resolution
    max_batch_size: int = 0           # batch at low resolutions (doubles per halving; 0 = batch_size)
    pggan_loss: str = "wgan-gp"       # wgan-gp | nonsaturating
    gp_weight: float = 10.0           # wgan-gp: (|grad| - 1)^2 at interpolates; nonsaturating: R1 gamma
    drift_weight: float = 0.001       # wgan-gp only
    ema_images: int = 10_000          # half-life of the generator's weight average (0 = none)
    conditional: bool = False         # condition on the label
    augment: str = ""                 # DiffAugment: any of translation,cutout,color
    upsampling: str = "nearest"       # G's blocks: nearest (Karras et al.) | bilinear

    @property
    def augmentations(self) -> tuple[str, ...]:
        """The DiffAugment policies ``augment`` names ('translation,cutout,color' -> 3 names)."""
        return tuple(name.strip() for name in self.augment.split(",") if name.strip())

    def validate(self, image_size: int) -> None:
        ratio = image_size // self.start_size if self.start_size else 0
        if self.start_size < 4 or self.start_size > image_size or image_size % self.start_size or ratio & (ratio - 1):
            raise UserError("--set", f"start_size={self.start_size} must be a power of two from 4 to "
                                     f"image_size ({image_size})")
        if self.images_per_stage < 1 or self.max_batch_size < 0:
            raise UserError("--set", "images_per_stage must be positive and max_batch_size >= 0")
        if self.pggan_loss not in LOSSES:
            raise UserError("--set", f"pggan_loss={self.pggan_loss!r} (known: {', '.join(LOSSES)})")
        if self.gp_weight < 0 or self.drift_weight < 0 or self.ema_images < 0:
            raise UserError("--set", "gp_weight, drift_weight and ema_images must be >= 0")
        if self.upsampling not in UPSAMPLINGS:
            raise UserError("--set", f"upsampling={self.upsampling!r} (known: {', '.join(UPSAMPLINGS)})")
        unknown = set(self.augmentations) - set(AUGMENTATIONS)
        if unknown:
            raise UserError("--set", f"augment={self.augment!r}: unknown {', '.join(sorted(unknown))} "
                                     f"(known: {', '.join(AUGMENTATIONS)})")
