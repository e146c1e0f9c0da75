"""Pix2Pix's options (``TrainConfig.pix2pix``): the UNet, the PatchGAN, the losses, augmentation.

No TensorFlow: the config layer imports it before any network is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mri_gan.data.records import SEQUENCES, canonical_sequence
from mri_gan.errors import UserError

ANY = "any"
#: most neighbouring slices on each side a 2.5-D model reads (``context``)
MAX_CONTEXT = 4
NORMS = ("batch", "instance")
UPSAMPLINGS = ("transposed", "resize")
#: checkpoints/best by validation: ssim (mean) | margin (worst over baselines)
SELECTIONS = ("ssim", "margin")


@dataclass
class Pix2PixConfig:
    source: list[str] = field(default_factory=lambda: ["t1"])
    target: str = "flair"             # one sequence, or "any" for imputation
    hide_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])  # imputation: odds of hiding 1, 2, 3
    unet_depth: int = 7
    unet_filters: int = 64
    d_filters: int = 64
    attention: bool = False
    unet_norm: str = "batch"          # batch (paper) | instance (per image: same in training and inference)
    unet_input_skip: bool = False     # full-resolution input path into the output layer
    residual: bool = False            # T1 / T1ce as the other (where given) plus a learned change (pix2pix.PARTNERS)
    linear_base: bool = False         # the training split's linear map of the given inputs plus a learned change
    context: int = 0                  # 2.5-D: the given sequences of this many axial neighbours on each side as input
    unet_upsampling: str = "transposed"   # transposed (paper) | resize (bilinear x2 + 3x3 conv: no checkerboard)
    dropout: float = 0.5
    adv_lambda: float = 1.0           # weight of G's adversarial term (0: supervised only, D not trained)
    l1_lambda: float = 100.0
    ssim_lambda: float = 0.0          # G adds this x (1 - SSIM) of the synthesized sequences
    l2_lambda: float = 0.0            # G adds this x the mean squared error (the error PSNR measures)
    lesion_weight: float = 0.0        # L1 weight inside tumour masks is 1 + this (slices that have one)
    patch_layers: int = 3             # 3 -> 70x70 receptive field
    select: str = "ssim"              # checkpoints/best by validation: ssim | margin
    rotate: float = 0.0               # augment: rotate each example by up to +- this many degrees
    zoom: float = 0.0                 # augment: scale each example by a factor within 1 +- this

    @property
    def imputation(self) -> bool:
        return str(self.target).lower() == ANY

    @property
    def sequences(self) -> list[str]:
        """The sequences the model outputs: all four for imputation, else the target."""
        return list(SEQUENCES) if self.imputation else [canonical_sequence(self.target, "--target")]

    def validate(self, image_size: int) -> None:
        """Refuse options that cannot train (UserError naming ``--set`` or the option)."""
        if not self.imputation:
            target = canonical_sequence(self.target, "--target")
            sources = [canonical_sequence(s, "--source") for s in self.source]
            if not sources:
                raise UserError("--source", "give at least one source sequence")
            if len(set(sources)) != len(sources):
                raise UserError("--source", "a sequence is given twice")
            if target in sources:
                raise UserError("--target", f"{target} is also a source")
        if len(self.hide_weights) != 3 or min(self.hide_weights) < 0 or not sum(self.hide_weights) > 0:
            raise UserError("--set", f"hide_weights={self.hide_weights} must be three weights >= 0 (of hiding "
                                     "1, 2, 3 sequences), not all 0")
        if min(self.adv_lambda, self.l1_lambda, self.l2_lambda, self.ssim_lambda, self.lesion_weight) < 0:
            raise UserError("--set", "adv_lambda, l1_lambda, l2_lambda, ssim_lambda and lesion_weight must be >= 0")
        if not (0.0 <= self.rotate <= 180.0 and 0.0 <= self.zoom < 0.5):
            raise UserError("--set", f"rotate={self.rotate} must be in [0, 180] degrees and zoom={self.zoom} "
                                     "in [0, 0.5)")
        if not 0 <= self.context <= MAX_CONTEXT:
            raise UserError("--set", f"context={self.context} must be 0 to {MAX_CONTEXT} neighbouring slices on "
                                     "each side")
        if self.residual and self.linear_base:
            raise UserError("--set", "residual and linear_base are alternatives: set one of them")
        if image_size % 2 ** self.unet_depth:
            raise UserError("--set", f"unet_depth={self.unet_depth} is too deep for image_size="
                                     f"{image_size} (needs image_size / 2^depth >= 1)")
        if self.unet_norm not in NORMS:
            raise UserError("--set", f"unet_norm={self.unet_norm!r} (known: {', '.join(NORMS)})")
        if self.unet_upsampling not in UPSAMPLINGS:
            raise UserError("--set", f"unet_upsampling={self.unet_upsampling!r} (known: {', '.join(UPSAMPLINGS)})")
        if image_size % 2 ** self.patch_layers:
            raise UserError("--set", f"patch_layers={self.patch_layers} is too deep for image_size={image_size}")
        if self.select not in SELECTIONS:
            raise UserError("--set", f"select={self.select!r} (known: {', '.join(SELECTIONS)})")
