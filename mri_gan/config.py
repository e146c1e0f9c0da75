"""Training configuration: one dataclass, presets per model (paper = Table 1), ``--set`` overrides.

Standard library only. The `paper` presets are the paper's Table 1 (read as docs/paper.md says:
Adam beta_1 = 0.5, Table 1 wins over the text's "0.01").
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from mri_gan.errors import UserError

MODELS = ("dcgan", "cdcgan", "pix2pix", "pggan")
PRESET_NAMES = ("paper", "quick", "smoke")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
AUGMENTATIONS = ("translation", "cutout", "color")   # pggan's DiffAugment policies
UPSAMPLINGS = ("nearest", "bilinear")                # pggan G's feature upsampling

#: config keys that apply to some models only -> those models (the others take every key)
MODEL_KEYS = {
    **dict.fromkeys(("source", "target", "hide_weights", "unet_depth", "unet_filters", "attention", "unet_norm",
                     "unet_input_skip", "residual", "linear_base", "context", "unet_upsampling", "dropout",
                     "adv_lambda", "l1_lambda", "l2_lambda", "ssim_lambda", "lesion_weight", "patch_layers", "select",
                     "rotate", "zoom"), ("pix2pix",)),
    **dict.fromkeys(("g_filters", "label_smoothing", "minibatch_std"), ("dcgan", "cdcgan")),
    "d_filters": ("dcgan", "cdcgan", "pix2pix"),
    **dict.fromkeys(("z_dim", "sequences"), ("dcgan", "cdcgan", "pggan")),
    **dict.fromkeys(("start_size", "images_per_stage", "fmap_base", "fmap_max", "fmap_min", "max_batch_size",
                     "pggan_loss", "gp_weight", "drift_weight", "ema_images"), ("pggan",)),
}

#: most neighbouring slices on each side a 2.5-D model reads (``context``)
MAX_CONTEXT = 4

#: keys that may differ between a run and its resume (the training budget and its cadence)
BUDGET_KEYS = {"epochs", "steps", "checkpoint_every", "sample_every", "log_every", "val_every",
               "keep_checkpoints"}


@dataclass
class TrainConfig:
    model: str = "dcgan"
    data: str = "phantom"
    preset: str = "quick"
    # shared by every model
    image_size: int = 128
    batch_size: int = 120
    epochs: int = 1
    steps: int | None = None          # overrides epochs when given
    lr_g: float = 2e-4
    lr_d: float = 1e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    lr_decay: bool = False            # learning rates decay linearly to 0 over the second half of `steps`
    seed: int = 0
    precision: str = "float32"        # float32 | mixed_bfloat16 | mixed_float16 | auto (bf16 where native)
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    # cadence (budget keys)
    log_every: int = 10
    checkpoint_every: int = 200
    sample_every: int = 200
    val_every: int = 200
    keep_checkpoints: int = 3
    jit_compile: bool = False         # XLA-compile the train step (one replica; longer tracing)
    flip: bool = False                # augment: mirror a random half of each batch left to right
    rotate: float = 0.0               # augment (pix2pix): rotate each example by up to +- this many degrees
    zoom: float = 0.0                 # augment (pix2pix): scale each example by a factor within 1 +- this
    # generative models (dcgan, cdcgan, pggan)
    z_dim: int = 100
    sequences: list[str] = field(default_factory=lambda: ["t1"])   # generated channels
    label_view: str = "source"        # source labels or "binary" (tumor / no_tumor)
    # DCGAN widths
    g_filters: int = 64
    d_filters: int = 64
    label_smoothing: float = 0.0      # D's target for real images is 1 - this (one-sided)
    minibatch_std: bool = False       # D sees each batch's feature spread (against mode collapse)
    # pix2pix
    source: list[str] = field(default_factory=lambda: ["t1"])
    target: str = "flair"             # one sequence, or "any" for imputation
    hide_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])  # imputation: odds of hiding 1, 2, 3
    unet_depth: int = 7
    unet_filters: int = 64
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
    select: str = "ssim"              # checkpoints/best by validation: ssim (mean) | margin (worst over baselines)
    # pggan
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
    conditional: bool = False         # condition on the label (always on for cdcgan; pggan by --set)
    augment: str = ""                 # pggan DiffAugment: any of translation,cutout,color
    upsampling: str = "nearest"       # pggan G's blocks: nearest (Karras et al.) | bilinear

    def __post_init__(self):
        if self.model == "cdcgan":
            self.conditional = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_dict(cls, data: dict, where: str = "config") -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise UserError(where, f"unknown config key(s): {', '.join(sorted(unknown))}")
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(path, f"cannot read config: {err}") from None
        return cls.from_dict(data, str(path))

    @property
    def generative(self) -> bool:
        return self.model in ("dcgan", "cdcgan", "pggan")


_PAPER = {
    "dcgan": dict(batch_size=120, epochs=3750, lr_d=1e-4, lr_g=2e-4),
    "cdcgan": dict(batch_size=120, epochs=3750, lr_d=1e-4, lr_g=2e-4),
    "pix2pix": dict(batch_size=80, epochs=2000, lr_d=1e-4, lr_g=2e-4),
    # 2500 epochs of ~850 training slices = 2.1M images: growth to 128 takes 10 x 150k of them
    "pggan": dict(batch_size=100, epochs=2500, lr_d=1e-4, lr_g=2e-4, images_per_stage=150_000),
}

PRESETS: dict[str, dict[str, dict]] = {
    "paper": {m: dict(v, log_every=50, checkpoint_every=2000, sample_every=2000, val_every=2000)
              for m, v in _PAPER.items()},
    # a few CPU minutes to tens of minutes (PGGAN's 128-px anatomy needs more: README)
    "quick": {
        # the paper's learning rates, one-sided label smoothing and D's minibatch std against
        # the per-class mode collapse this small data invites
        "dcgan": dict(image_size=64, batch_size=32, steps=1250, g_filters=32, d_filters=32,
                      label_smoothing=0.1, minibatch_std=True, log_every=25,
                      checkpoint_every=250, sample_every=250),
        "cdcgan": dict(image_size=64, batch_size=32, steps=1250, g_filters=32, d_filters=32,
                       label_smoothing=0.1, minibatch_std=True, log_every=25,
                       checkpoint_every=250, sample_every=250),
        # UNet-128 at half width with instance norm (the same in training and inference), a
        # full-resolution input path, resize + convolution upsampling, the training split's linear
        # map of the given inputs plus a learned change (the net starts as the regression
        # baseline), trained on L1 + L2 + SSIM alone (no adversarial term: at this budget it cost
        # held-out SSIM), lesion-weighted L1, mirror, rotation and zoom augmentation, one hidden
        # sequence more often than two or three, learning rates decaying over the second half, the
        # checkpoint with the best worst margin over the baselines on validation kept, bf16 where the
        # hardware computes it natively (held-out quality as in float32); 6000 steps (figures and wall
        # times: benchmarks/RESULTS.md)
        "pix2pix": dict(image_size=128, batch_size=8, steps=6000, unet_depth=7, unet_filters=32,
                        d_filters=32, unet_norm="instance", unet_input_skip=True, unet_upsampling="resize",
                        linear_base=True, adv_lambda=0.0, flip=True, rotate=10.0, zoom=0.1, ssim_lambda=50.0,
                        l2_lambda=1000.0, lesion_weight=10.0, hide_weights=[3.0, 2.0, 1.0], lr_d=2e-4, lr_g=2e-4,
                        lr_decay=True, select="margin", precision="auto", log_every=25,
                        checkpoint_every=1000, sample_every=250, val_every=500),
        # 16000 images per stage, batch 64 up to 32 px, 32 at 64 px, 16 at 128 px (growth ends at
        # step 3750), then 4000 steps at 128 stable; mirror augmentation; widths 128 / 128 / 64 /
        # 32 / 16 / 16 at 4 ... 128 px; bilinear upsampling in G (no grid texture); bf16 where the
        # hardware computes it natively (figures and wall times: benchmarks/RESULTS.md)
        "pggan": dict(image_size=128, batch_size=16, max_batch_size=64, steps=7750,
                      images_per_stage=16000, flip=True, precision="auto", upsampling="bilinear",
                      fmap_base=512, fmap_max=128, fmap_min=16, lr_d=1e-3, lr_g=1e-3, beta_1=0.0,
                      beta_2=0.99, ema_images=1000, log_every=25, checkpoint_every=250,
                      sample_every=250),
    },
    # seconds, for tests
    "smoke": {
        "dcgan": dict(image_size=32, batch_size=4, steps=4, g_filters=8, d_filters=8, z_dim=16,
                      log_every=1, checkpoint_every=2, sample_every=2),
        "cdcgan": dict(image_size=32, batch_size=4, steps=4, g_filters=8, d_filters=8, z_dim=16,
                       log_every=1, checkpoint_every=2, sample_every=2),
        "pix2pix": dict(image_size=32, batch_size=4, steps=4, unet_depth=4, unet_filters=8,
                        d_filters=8, log_every=1, checkpoint_every=2, sample_every=2, val_every=2),
        "pggan": dict(image_size=16, start_size=8, batch_size=4, max_batch_size=8, steps=8,
                      images_per_stage=16, fmap_base=32, fmap_max=16, z_dim=16, ema_images=16,
                      log_every=1, checkpoint_every=4, sample_every=4),
    },
}


def _coerce(current, value: str, key: str):
    """Parse a ``--set`` value to the type of the field it replaces."""
    try:
        if isinstance(current, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return value.lower() in ("true", "1", "yes")
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, list):
            items = [v for v in value.split(",") if v]
            return [float(v) for v in items] if current and isinstance(current[0], float) else items
        if current is None:  # optional ints (steps)
            return None if value.lower() in ("none", "") else int(value)
        return value
    except ValueError:
        raise UserError("--set", f"{key}={value!r} is not a valid {type(current).__name__}") from None


def parse_sets(items) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UserError("--set", f"expected key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def resolve(model: str, preset: str = "quick", data: str = "phantom", overrides=None) -> TrainConfig:
    """The config for a model: defaults, then the preset, then ``--set`` overrides."""
    if model not in MODELS:
        raise UserError("--model", f"unknown model {model!r} (known: {', '.join(MODELS)})")
    if preset not in PRESET_NAMES:
        raise UserError("--preset", f"unknown preset {preset!r} (known: {', '.join(PRESET_NAMES)})")
    cfg = TrainConfig(model=model, preset=preset, data=data)
    for key, value in PRESETS[preset][model].items():
        setattr(cfg, key, value)
    fields = {f.name for f in dataclasses.fields(cfg)}
    for dotted, value in (overrides or {}).items():
        key = dotted.split(".")[-1]
        if key not in fields or key in ("model", "data", "preset"):
            raise UserError("--set", f"unknown config key {dotted!r}")
        if model not in MODEL_KEYS.get(key, MODELS):
            raise UserError("--set", f"{dotted} is for {', '.join(MODEL_KEYS[key])}, not {model}")
        setattr(cfg, key, _coerce(getattr(cfg, key), value, dotted))
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    if cfg.image_size not in (16, 32, 64, 128, 256, 512):
        raise UserError("--set", f"image_size={cfg.image_size} must be a power of two from 16 to 512")
    if cfg.batch_size < 1:
        raise UserError("--set", "batch_size must be positive")
    if cfg.precision not in ("float32", "mixed_bfloat16", "mixed_float16", "auto"):
        raise UserError("--set", f"precision={cfg.precision!r} (known: float32, mixed_bfloat16, mixed_float16, auto)")
    if cfg.steps is not None and cfg.steps < 1:
        raise UserError("--set", "steps must be positive")
    if cfg.lr_decay and cfg.steps is None:
        raise UserError("--set", "lr_decay needs a step budget (steps=N)")
    if not 0.0 <= cfg.label_smoothing < 0.5:
        raise UserError("--set", f"label_smoothing={cfg.label_smoothing} must be in [0, 0.5)")
    if len(cfg.hide_weights) != 3 or min(cfg.hide_weights) < 0 or not sum(cfg.hide_weights) > 0:
        raise UserError("--set", f"hide_weights={cfg.hide_weights} must be three weights >= 0 (of hiding "
                                 "1, 2, 3 sequences), not all 0")
    if min(cfg.adv_lambda, cfg.l1_lambda, cfg.l2_lambda, cfg.ssim_lambda, cfg.lesion_weight) < 0:
        raise UserError("--set", "adv_lambda, l1_lambda, l2_lambda, ssim_lambda and lesion_weight must be >= 0")
    if not (0.0 <= cfg.rotate <= 180.0 and 0.0 <= cfg.zoom < 0.5):
        raise UserError("--set", f"rotate={cfg.rotate} must be in [0, 180] degrees and zoom={cfg.zoom} in [0, 0.5)")
    if not 0 <= cfg.context <= MAX_CONTEXT:
        raise UserError("--set", f"context={cfg.context} must be 0 to {MAX_CONTEXT} neighbouring slices on each side")
    if cfg.residual and cfg.linear_base:
        raise UserError("--set", "residual and linear_base are alternatives: set one of them")
    if cfg.conditional and cfg.model not in ("cdcgan", "pggan"):
        raise UserError("--set", f"conditional=true is for cdcgan and pggan, not {cfg.model}")
    if cfg.augment and cfg.model != "pggan":
        raise UserError("--set", f"augment is for pggan, not {cfg.model}")
    if cfg.upsampling != "nearest" and cfg.model != "pggan":
        raise UserError("--set", f"upsampling is for pggan, not {cfg.model}")
    if cfg.model == "cdcgan" and not cfg.conditional:
        raise UserError("--set", "cdcgan is always conditional (train dcgan for an unconditional model)")
    if cfg.model == "pggan":
        _validate_pggan(cfg)


def _validate_pggan(cfg: TrainConfig) -> None:
    if cfg.start_size < 4 or cfg.start_size > cfg.image_size or cfg.image_size % cfg.start_size \
            or (cfg.image_size // cfg.start_size) & (cfg.image_size // cfg.start_size - 1):
        raise UserError("--set", f"start_size={cfg.start_size} must be a power of two from 4 to "
                                 f"image_size ({cfg.image_size})")
    if cfg.images_per_stage < 1 or cfg.max_batch_size < 0:
        raise UserError("--set", "images_per_stage must be positive and max_batch_size >= 0")
    if cfg.pggan_loss not in ("wgan-gp", "nonsaturating"):
        raise UserError("--set", f"pggan_loss={cfg.pggan_loss!r} (known: wgan-gp, nonsaturating)")
    if cfg.gp_weight < 0 or cfg.drift_weight < 0 or cfg.ema_images < 0:
        raise UserError("--set", "gp_weight, drift_weight and ema_images must be >= 0")
    if cfg.upsampling not in UPSAMPLINGS:
        raise UserError("--set", f"upsampling={cfg.upsampling!r} (known: {', '.join(UPSAMPLINGS)})")
    unknown = set(augmentations(cfg)) - set(AUGMENTATIONS)
    if unknown:
        raise UserError("--set", f"augment={cfg.augment!r}: unknown {', '.join(sorted(unknown))} "
                                 f"(known: {', '.join(AUGMENTATIONS)})")


def augmentations(cfg: TrainConfig) -> tuple[str, ...]:
    """The DiffAugment policies ``cfg.augment`` names ('translation,cutout,color' -> 3 names)."""
    return tuple(name.strip() for name in cfg.augment.split(",") if name.strip())


def differences(saved: TrainConfig, new: TrainConfig) -> list[str]:
    """Fields that differ between two configs, budget keys excepted."""
    a, b = saved.to_dict(), new.to_dict()
    return [k for k in a if k not in BUDGET_KEYS and a[k] != b.get(k)]
