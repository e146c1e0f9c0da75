"""Using an exported model (mri_gan.export) through its serving signatures, without model code.

``load_export(path)`` takes a model folder (``saved_models/NAME``: its newest version) or one
version folder and returns an object with the interface inference needs from a task:
``meta``, ``cfg``, and for generative exports ``num_classes``, ``noise(rng, n)``,
``generate(z, labels)``; for Pix2Pix exports ``translate(images, available, target)`` (the
same call as ``Pix2Pix.translate``) and ``impute(images, available)``. Everything runs through
the SavedModel's signatures (what TF Serving runs), loaded with ``tf.saved_model.load``; inputs
are checked against the signatures first, so a mistake is a one-line UserError.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mri_gan.config import TrainConfig
from mri_gan.data.context import block_channels
from mri_gan.data.records import SEQUENCES
from mri_gan.errors import UserError
from mri_gan.translate_checks import check_translate

METADATA = Path("assets") / "metadata.json"
#: rows per signature call
BATCH = 64


def export_dir(path) -> Path | None:
    """The version folder a path names (itself, or a model folder's newest version), or None."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    if not path.is_dir():
        return None
    numbered = [p for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    return max(numbered, key=lambda p: int(p.name)) if numbered else None


def is_export(path) -> bool:
    return export_dir(path) is not None


def _describe(shape, dtype) -> str:
    dims = ", ".join("N" if i == 0 and d is None else ("?" if d is None else str(d))
                     for i, d in enumerate(shape))
    return f"[{dims}] {dtype}"


class Exported:
    """An exported model's signatures, metadata and the run's config."""

    def __init__(self, path: Path, info: dict, loaded):
        self.path = path
        self.info = info
        self.meta = info["meta"]
        self.cfg = TrainConfig.from_dict(info["config"], str(path / METADATA))
        self._loaded = loaded          # keeps the variables alive
        self.signatures = dict(loaded.signatures)

    def call(self, name: str, **inputs) -> dict[str, np.ndarray]:
        """Run one signature on NumPy inputs after checking rank, shape and dtype."""
        import tensorflow as tf

        if name not in self.signatures:
            raise UserError(self.path, f"no signature {name!r} (has: {', '.join(sorted(self.signatures))})")
        fn = self.signatures[name]
        specs = fn.structured_input_signature[1]
        if set(inputs) != set(specs):
            raise UserError(self.path, f"{name} takes {', '.join(sorted(specs))}; got {', '.join(sorted(inputs))}")
        feed = {}
        for key, spec in specs.items():
            value = np.asarray(inputs[key])
            want = spec.dtype.as_numpy_dtype
            ok_kind = (value.dtype == want
                       or (np.issubdtype(want, np.floating) and np.issubdtype(value.dtype, np.floating))
                       or (np.issubdtype(want, np.signedinteger) and np.issubdtype(value.dtype, np.integer)))
            if not ok_kind or not spec.shape.is_compatible_with(value.shape):
                raise UserError(self.path, f"{name}: {key} must be {_describe(spec.shape, spec.dtype.name)}; "
                                           f"got {_describe(value.shape, value.dtype)}")
            feed[key] = tf.constant(value.astype(want, copy=False))
        return {k: v.numpy() for k, v in fn(**feed).items()}


class ExportedGenerator(Exported):
    """A DCGAN / cDCGAN / PGGAN export."""

    @property
    def num_classes(self) -> int:
        return int(self.info["num_classes"])

    def noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The run's noise, drawn exactly as its task draws it (so seeds give the same images)."""
        spec = self.info["noise"]
        shape = (n, int(spec["z_dim"]))
        if spec["distribution"] == "uniform":
            return rng.uniform(spec["low"], spec["high"], shape).astype(np.float32)
        return rng.standard_normal(shape).astype(np.float32)

    def generate(self, z: np.ndarray, labels: np.ndarray | None = None, batch: int = BATCH) -> np.ndarray:
        """Images [N, H, W, C] in [-1, 1] for noise ``z`` (and labels when conditional)."""
        out = []
        for i in range(0, len(z), batch):
            inputs = {"z": z[i:i + batch]}
            if self.num_classes:
                inputs["label"] = np.asarray(labels[i:i + batch], np.int32)
            out.append(self.call("generate", **inputs)["image"])
        return np.concatenate(out).astype(np.float32)

    def sample(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """The ``sample`` signature: z, image and label of n images drawn in the graph."""
        return self.call("sample", n=np.int32(n), seed=np.int64(seed))


class ExportedTranslator(Exported):
    """A Pix2Pix export: translation (sources -> target) or imputation (any missing sequence)."""

    @property
    def imputation(self) -> bool:
        return self.info["kind"] == "impute"

    @property
    def sources(self) -> list[str]:
        return list(self.info["source"])

    @property
    def target(self) -> str:
        return self.info["target"]

    @property
    def context(self) -> int:
        """Axial neighbours read on each side of a slice (2.5-D; ``data.context``)."""
        return self.cfg.pix2pix.context if self.cfg.pix2pix else 0

    def impute(self, images: np.ndarray, available, batch: int = BATCH) -> np.ndarray:
        """[N, S, S, 4] in [-1, 1] with the sequences not ``available`` ([4] or [N, 4]) synthesized;
        ``images`` are [N, S, S, 4 (2k + 1)] for a 2.5-D model (``data.context``)."""
        if not self.imputation:
            raise UserError(self.path, f"a translation model ({', '.join(self.sources)} -> {self.target}) "
                                       "does not impute; export an imputation run (--target any)")
        images = np.asarray(images, np.float32)
        have = np.broadcast_to(np.asarray(available, bool), (len(images), len(SEQUENCES)))
        if not have.any(axis=1).all():
            raise UserError("--input", "imputation needs at least one given sequence per slice")
        out = [self.call("serving_default", image=images[i:i + batch], available=have[i:i + batch])["image"]
               for i in range(0, len(images), batch)]
        return np.concatenate(out) if out else images[..., :len(SEQUENCES)].copy()

    def translate(self, images: np.ndarray, available, target: str) -> np.ndarray:
        """Synthesize ``target`` for slices [N, S, S, 4] in [-1, 1] (SEQUENCES order, zeros where
        missing; [N, S, S, 4 (2k + 1)] for a 2.5-D model) given ``available`` ([4] or [N, 4] bool):
        [N, S, S] in [-1, 1], as ``Pix2Pix.translate`` does in-process."""
        x = check_translate(self, images, available, target)
        if self.imputation:
            return self.impute(x.images, x.given)[..., x.target]
        source = x.images[..., block_channels(x.channels, len(SEQUENCES), self.context)]
        out = [self.call("serving_default", source=source[i:i + BATCH])["image"][..., 0]
               for i in range(0, len(source), BATCH)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(x.images.shape[:3], np.float32)


def read_metadata(path) -> tuple[Path, dict]:
    """(version folder, assets/metadata.json) of an export, with one-line errors."""
    folder = export_dir(path)
    if folder is None:
        raise UserError(path, "not an exported model (no saved_model.pb here or in a numbered version folder)")
    meta_path = folder / METADATA
    if not meta_path.is_file():
        raise UserError(folder, f"not an mri_gan export ({METADATA} missing)")
    try:
        return folder, json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(meta_path, f"not valid JSON: {err}") from None


def load_export(path) -> ExportedGenerator | ExportedTranslator:
    """Load an export (a model folder's newest version, or a version folder) for inference."""
    import tensorflow as tf

    folder, info = read_metadata(path)
    loaded = tf.saved_model.load(str(folder))
    cls = ExportedGenerator if info["kind"] == "generate" else ExportedTranslator
    return cls(folder, info, loaded)
