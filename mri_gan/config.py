"""Training configuration: common fields plus the active model family's options, presets, overrides.

``TrainConfig`` holds what every model shares and one nested family config (``pix2pix``, ``dcgan``
for dcgan and cdcgan, ``pggan``), each defined beside its model and validating itself. Presets and
overrides name keys flat (``unet_filters``) or dotted (``pix2pix.unet_filters``); ``resolve`` takes
typed values (the CLI parses ``--set`` strings). The ``paper`` presets are the paper's Table 1
(``paper_table``; read as docs/paper.md says: Adam beta_1 = 0.5, Table 1 wins over the text's "0.01").
No TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from mri_gan.errors import UserError
from mri_gan.models.dcgan_config import DCGANConfig
from mri_gan.models.pggan_config import PGGANConfig
from mri_gan.models.pix2pix_config import Pix2PixConfig
from mri_gan.paper_table import HYPER_PARAMETERS, PAPER_FAMILY, PAPER_TABLE1

MODELS = ("dcgan", "cdcgan", "pix2pix", "pggan")
PRESET_NAMES = ("paper", "quick", "smoke")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")

#: the nested config of each family, and the family of each model
FAMILIES = {"pix2pix": Pix2PixConfig, "dcgan": DCGANConfig, "pggan": PGGANConfig}
FAMILY_OF = {"dcgan": "dcgan", "cdcgan": "dcgan", "pix2pix": "pix2pix", "pggan": "pggan"}

#: keys that may differ between a run and its resume (the training budget and its cadence)
BUDGET_KEYS = {"epochs", "steps", "checkpoint_every", "sample_every", "log_every", "val_every",
               "keep_checkpoints"}


def _names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


@dataclass
class TrainConfig:
    model: str = "dcgan"
    data: str = "phantom"
    preset: str = "quick"
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
    label_view: str = "source"        # source labels or "binary" (tumor / no_tumor)
    # the active family's options (the others stay None)
    pix2pix: Pix2PixConfig | None = None
    dcgan: DCGANConfig | None = None
    pggan: PGGANConfig | None = None

    def __post_init__(self):
        if self.model in FAMILY_OF and self.family is None:
            setattr(self, FAMILY_OF[self.model], FAMILIES[FAMILY_OF[self.model]]())

    @property
    def family(self) -> Pix2PixConfig | DCGANConfig | PGGANConfig:
        """The active model family's options."""
        return getattr(self, FAMILY_OF[self.model])

    @property
    def generative(self) -> bool:
        return self.model in ("dcgan", "cdcgan", "pggan")

    @property
    def conditional(self) -> bool:
        """Conditioned on the label: always for cdcgan, for pggan by ``--set conditional=true``."""
        return self.model == "cdcgan" or (self.model == "pggan" and self.pggan.conditional)

    def validate(self) -> None:
        """Refuse a config that cannot train (UserError naming ``--set``)."""
        if self.image_size not in (16, 32, 64, 128, 256, 512):
            raise UserError("--set", f"image_size={self.image_size} must be a power of two from 16 to 512")
        if self.batch_size < 1:
            raise UserError("--set", "batch_size must be positive")
        if self.precision not in ("float32", "mixed_bfloat16", "mixed_float16", "auto"):
            raise UserError("--set", f"precision={self.precision!r} (known: float32, mixed_bfloat16, "
                                     "mixed_float16, auto)")
        if self.steps is not None and self.steps < 1:
            raise UserError("--set", "steps must be positive")
        if self.lr_decay and self.steps is None:
            raise UserError("--set", "lr_decay needs a step budget (steps=N)")
        self.family.validate(self.image_size)

    def flat(self) -> dict:
        """Every key by its flat name: the common fields, then the family's."""
        common = {k: v for k, v in dataclasses.asdict(self).items() if k not in FAMILIES}
        return {**common, **dataclasses.asdict(self.family)}

    def to_dict(self) -> dict:
        """The nested form config.json holds: common fields and the active family's."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in FAMILIES or v is not None}

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_dict(cls, data: dict, where: str = "config") -> TrainConfig:
        """A config from its nested form, or from the flat form of earlier runs (every family's keys at
        the top; those of the other families are dropped)."""
        model = data.get("model", cls.model)
        if model not in FAMILY_OF:
            raise UserError(where, f"unknown model {model!r} (known: {', '.join(MODELS)})")
        name = FAMILY_OF[model]
        common, own = _names(cls) - set(FAMILIES), _names(FAMILIES[name])
        other = set().union(*map(_names, FAMILIES.values())) - own
        nested = data.get(name) or {}
        if not isinstance(nested, dict):
            raise UserError(where, f"{name} must be a mapping of its keys")
        flat = {k: v for k, v in data.items() if k in own}
        if flat and name in data:
            raise UserError(where, f"{', '.join(sorted(flat))} given both at the top and in {name}")
        unknown = {k for k in data if k not in common | own | other | {name}} | (set(nested) - own)
        if unknown:
            raise UserError(where, f"unknown config key(s): {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in data.items() if k in common},
                   **{name: FAMILIES[name](**(nested or flat))})

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(path, f"cannot read config: {err}") from None
        if not isinstance(data, dict):
            raise UserError(path, "cannot read config: not a JSON object")
        return cls.from_dict(data, str(path))


_PAPER = {m: {k: PAPER_TABLE1[PAPER_FAMILY[m]][k] for k in HYPER_PARAMETERS} for m in MODELS}
# 2500 epochs of ~850 training slices = 2.1M images: growth to 128 takes 10 x 150k of them
_PAPER["pggan"]["images_per_stage"] = 150_000

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


def field_type(model: str, key: str) -> str:
    """The type (as annotated, e.g. ``'int | None'``, ``'list[float]'``) of a flat or dotted key of
    ``model``'s config; UserError for a key it does not have."""
    owner, name = _locate(model, key)
    return {f.name: f.type for f in dataclasses.fields(owner)}[name]


def _locate(model: str, key: str) -> tuple[type, str]:
    """The dataclass holding ``key`` for ``model`` and the field's name."""
    family = FAMILY_OF[model]
    prefix, _, name = key.rpartition(".")
    if not prefix and name in _names(TrainConfig) - set(FAMILIES) - {"model", "data", "preset"}:
        return TrainConfig, name
    owners = [m for m in MODELS if name in _names(FAMILIES[FAMILY_OF[m]]) and prefix in ("", FAMILY_OF[m])]
    if not owners:
        raise UserError("--set", f"unknown config key {key!r}")
    if model not in owners:
        raise UserError("--set", f"{key} is for {', '.join(owners)}, not {model}")
    return FAMILIES[family], name


def _typed(kind: str, value, key: str):
    """``value`` checked against a field's annotated type (an int stands for a float)."""
    base = kind.removesuffix(" | None")
    if value is None and base != kind:
        return None
    fits = {"bool": lambda v: isinstance(v, bool),
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "str": lambda v: isinstance(v, str)}
    if base.startswith("list["):
        item = base[5:-1]
        if isinstance(value, (list, tuple)) and all(fits[item](v) for v in value):
            return [float(v) if item == "float" else v for v in value]
    elif fits[base](value):
        return float(value) if base == "float" else value
    raise TypeError(f"{key}={value!r} is not a {kind}")


def resolve(model: str, preset: str = "quick", data: str = "phantom", overrides=None) -> TrainConfig:
    """The config for a model: defaults, then the preset, then typed ``overrides`` (flat or dotted keys)."""
    if model not in MODELS:
        raise UserError("--model", f"unknown model {model!r} (known: {', '.join(MODELS)})")
    if preset not in PRESET_NAMES:
        raise UserError("--preset", f"unknown preset {preset!r} (known: {', '.join(PRESET_NAMES)})")
    cfg = TrainConfig(model=model, preset=preset, data=data)
    for key, value in {**PRESETS[preset][model], **(overrides or {})}.items():
        owner, name = _locate(model, key)
        target = cfg if owner is TrainConfig else cfg.family
        setattr(target, name, _typed(field_type(model, key), value, key))
    cfg.validate()
    return cfg


def differences(saved: TrainConfig, new: TrainConfig) -> list[str]:
    """Keys (flat names) that differ between two configs, budget keys excepted."""
    a, b = saved.flat(), new.flat()
    return [k for k in a if k not in BUDGET_KEYS and a[k] != b.get(k)]
