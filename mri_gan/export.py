"""SavedModel export for TF Serving: explicit signatures, metadata, versioned atomic layout.

``export_run(RUN_DIR, saved_models/NAME)`` writes ``saved_models/NAME/<version>/`` (a SavedModel
per integer version, TF Serving's layout) through a hidden temporary sibling renamed at the end
(mri_gan.atomic), so TF Serving never sees a half-written version, a failure leaves nothing
behind and an existing version is never touched.

Every signature is a ``tf.function`` with a static input signature (dtypes and shapes are in the
SavedModel, where ``saved_model_cli show --all`` and TF Serving's metadata endpoint list them).
Shapes, label ranges and value ranges are also asserted inside the graph, because TF Serving
feeds raw tensors: a wrong rank, channel count, image size or range is refused with a message
naming the input, never broadcast silently.

Signatures (float images are in [-1, 1]; ``*_uint8`` ones take / return 0..255):

- generative (dcgan, cdcgan, pggan): ``serving_default(z) -> image, label`` (a conditional model
  cycles its classes by row), ``generate(z[, label]) -> image``, ``generate_uint8``,
  ``sample(n, seed) -> z, image, label`` (noise drawn in the graph, stateless in the seed);
- pix2pix translation: ``serving_default`` = ``translate(source) -> image``, ``translate_uint8``;
- pix2pix imputation: ``serving_default`` = ``impute(image, available) -> image`` (the four
  sequences, given ones passed through, missing ones synthesized), ``impute_uint8``.

A 2.5-D model (metadata ``context`` k > 0) takes each slice's channels followed by those of its
k axial neighbours on each side (mri_gan.data.context); its outputs are the slice's own.

Models are exported in inference mode: batch norm uses its moving statistics and pix2pix's
dropout is off, so an export is a deterministic function (the same as ``task.translate`` and
``task.generate`` in-process); pix2pix's dropout-as-noise is a training device only here.
``assets/metadata.json`` holds the run's config, sequences, image size, label names, noise,
normalisation and a description of every signature.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from mri_gan import __version__
from mri_gan.atomic import atomic_folder, check
from mri_gan.data.records import SEQUENCES
from mri_gan.errors import UserError
from mri_gan.models.imputation import imputation_input

FORMAT = "mri_gan-export-1"
METADATA = Path("assets") / "metadata.json"
#: tolerance on the [-1, 1] range check of float image inputs
RANGE_SLACK = 1e-3
UINT8_NOTE = ("uint8 signatures map 0..255 to [-1, 1] as u / 255 * 2 - 1 and back as "
              "round((x + 1) / 2 * 255), clipped")


@dataclass
class Endpoint:
    """One serving signature: its function, named inputs (spec and meaning) and outputs."""

    fn: Callable
    inputs: dict[str, tuple[tf.TensorSpec, str]]
    outputs: dict[str, str]
    doc: str

    @property
    def specs(self) -> list[tf.TensorSpec]:
        return [spec for spec, _ in self.inputs.values()]

    def describe(self) -> dict:
        def shape(spec):
            return [-1 if d is None else int(d) for d in spec.shape]

        return {"doc": self.doc,
                "inputs": {k: {"dtype": spec.dtype.name, "shape": shape(spec), "meaning": text}
                           for k, (spec, text) in self.inputs.items()},
                "outputs": self.outputs}


# -- in-graph checks (they run under TF Serving, which feeds tensors without checking shapes) --
def _text(part):
    """A message part as a scalar string tensor (tensors joined with commas)."""
    if isinstance(part, str):
        return part
    kwargs = {"precision": 4} if part.dtype.is_floating else {}
    return tf.strings.reduce_join(tf.reshape(tf.strings.as_string(part, **kwargs), [-1]), separator=",")


def _require(ok, x, *message):
    """``x`` once ``ok`` holds; else the signature fails with the joined message."""
    check = tf.Assert(ok, [tf.strings.join([_text(part) for part in message])])
    with tf.control_dependencies([check]):
        return tf.identity(x)


def _checked(x, name: str, dims: list[int | None]):
    """``x`` after checking its rank and its non-batch dims (None = any).

    The runtime shape is compared as text ("4,32,32,1" against "\\d+,32,32,1"): the comparison
    works for any rank, and it cannot be folded away from the signature's static shape (unlike
    a rank or a shape element, which graph optimisation takes from the declared input)."""
    layout = "[" + ", ".join("N" if i == 0 else str(d) for i, d in enumerate(dims)) + "]"
    pattern = ",".join(r"\d+" if i == 0 or d is None else str(d) for i, d in enumerate(dims))
    shape = _text(tf.shape(x))
    return _require(tf.strings.regex_full_match(shape, pattern), x,
                    f"{name}: expected shape {layout}; got [", shape, "]")


def _in_range(x, name: str):
    top = tf.reduce_max(tf.abs(x))
    return _require(tf.reduce_all(tf.abs(x) <= 1.0 + RANGE_SLACK), x,
                    f"{name}: float values must lie in [-1, 1] (send 0..255 images to the *_uint8 "
                    f"signature); got max |x| = ", top)


def _same_batch(a, b, names: str):
    na, nb = tf.shape(a)[0], tf.shape(b)[0]
    return _require(tf.equal(na, nb), b, f"{names}: batch sizes differ (", na, " and ", nb, ")")


def _image(x, name: str, size: int, channels: int):
    return _in_range(_checked(x, name, [None, size, size, channels]), name)


def _from_uint8(u):
    return tf.cast(u, tf.float32) / 255.0 * 2.0 - 1.0


def _to_uint8(x):
    return tf.cast(tf.round(tf.clip_by_value((x + 1.0) / 2.0, 0.0, 1.0) * 255.0), tf.uint8)


# -- generative models ---------------------------------------------------------------------------
def noise_spec(task) -> dict:
    """The task's noise distribution, identified by reproducing ``task.noise`` draws exactly, so
    an export's client (mri_gan.serving) draws the same z as the run for the same seed."""
    candidates = {"uniform": lambda rng, shape: rng.uniform(-1.0, 1.0, shape),
                  "normal": lambda rng, shape: rng.standard_normal(shape)}
    z = task.noise(np.random.default_rng(1234), 8)
    for name, draw in candidates.items():
        if np.array_equal(z, draw(np.random.default_rng(1234), z.shape).astype(np.float32)):
            return {"distribution": name, "z_dim": int(z.shape[1]),
                    **({"low": -1.0, "high": 1.0} if name == "uniform" else {"mean": 0.0, "std": 1.0})}
    raise ValueError(f"{type(task).__name__}.noise is neither uniform [-1, 1) nor standard normal")


def generator_call(task) -> Callable:
    """The traceable (z, labels or None) -> images [N, S, S, C] in [-1, 1] of a generative task,
    as its ``generate`` computes them (a PGGAN at the stage and alpha it last trained, its
    output nearest-upsampled to the final size and clipped)."""
    G = task.generator
    if task.cfg.model != "pggan":
        return lambda z, labels: G(z, labels, training=False)
    level, alpha = task.current()
    factor = task.cfg.image_size // (task.cfg.pggan.start_size * 2 ** level)

    def call(z, labels):
        a = None if alpha is None else tf.fill([tf.shape(z)[0]], tf.constant(alpha, tf.float32))
        images = G(z, labels, level=level, alpha=a, training=False)
        if factor > 1:
            images = tf.repeat(tf.repeat(images, factor, axis=1), factor, axis=2)
        return tf.clip_by_value(images, -1.0, 1.0)

    return call


def generative_endpoints(task) -> dict[str, Endpoint]:
    cfg = task.cfg
    size, channels = cfg.image_size, len(cfg.family.sequences)
    classes = int(getattr(task, "num_classes", 0) or 0)
    noise = noise_spec(task)
    z_dim = noise["z_dim"]
    call = generator_call(task)
    z_spec = tf.TensorSpec([None, z_dim], tf.float32, name="z")
    label_spec = tf.TensorSpec([None], tf.int32, name="label")
    z_doc = (f"noise [N, {z_dim}] float32, {noise['distribution']}"
             + (" in [-1, 1)" if noise["distribution"] == "uniform" else " N(0, 1)"))
    image_doc = f"image [N, {size}, {size}, {channels}] float32 in [-1, 1] ({', '.join(cfg.family.sequences)})"

    def cycled(z):
        n = tf.shape(z)[0]
        return tf.range(n, dtype=tf.int32) % classes if classes else -tf.ones([n], tf.int32)

    def run(z, labels):
        return call(_checked(z, "z", [None, z_dim]), labels)

    def checked_labels(z, label):
        label = _same_batch(z, _checked(label, "label", [None]), "z, label")
        return _require(tf.reduce_all((label >= 0) & (label < classes)), label,
                        f"label: class indices must lie in [0, {classes}); got ", tf.reduce_min(label),
                        " to ", tf.reduce_max(label))

    def serving_default(z):
        labels = cycled(z)
        return {"image": run(z, labels if classes else None), "label": labels}

    def sample(n, seed):
        n = _require(n >= 1, n, "n: must be at least 1; got ", n)
        pair = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
        if noise["distribution"] == "uniform":
            z = tf.random.stateless_uniform([n, z_dim], pair, minval=-1.0, maxval=1.0)
        else:
            z = tf.random.stateless_normal([n, z_dim], pair)
        return {"z": z, **serving_default(z)}

    out = {
        "serving_default": Endpoint(
            serving_default, {"z": (z_spec, z_doc)},
            {"image": image_doc, "label": "[N] int32 class of each image (-1 when unconditional)"},
            "images for noise z" + ("; classes in turn by row (row i gets class i mod classes)"
                                    if classes else "")),
        "sample": Endpoint(
            sample, {"n": (tf.TensorSpec([], tf.int32, name="n"), "number of images (scalar int32)"),
                     "seed": (tf.TensorSpec([], tf.int64, name="seed"), "random seed (scalar int64)")},
            {"z": "the noise drawn", "image": image_doc, "label": "[N] int32 class (-1 unconditional)"},
            "n images from noise drawn in the graph (stateless: the same seed gives the same images)"),
    }
    if classes:
        def generate(z, label):
            return {"image": call(_checked(z, "z", [None, z_dim]), checked_labels(z, label))}

        def generate_uint8(z, label):
            return {"image": _to_uint8(generate(z, label)["image"])}

        names = ", ".join(task.meta["label_names"])
        inputs = {"z": (z_spec, z_doc), "label": (label_spec, f"[N] int32 class index 0..{classes - 1} ({names})")}
    else:
        def generate(z):
            return {"image": run(z, None)}

        def generate_uint8(z):
            return {"image": _to_uint8(generate(z)["image"])}

        inputs = {"z": (z_spec, z_doc)}
    out["generate"] = Endpoint(generate, inputs, {"image": image_doc},
                               "images for noise z" + (" and chosen classes" if classes else ""))
    out["generate_uint8"] = Endpoint(generate_uint8, inputs,
                                     {"image": image_doc.replace("float32 in [-1, 1]", "uint8 0..255")},
                                     "generate, returning uint8 images (" + UINT8_NOTE + ")")
    return out


# -- pix2pix -------------------------------------------------------------------------------------
def paired_endpoints(task) -> dict[str, Endpoint]:
    size = task.cfg.image_size
    G = task.generator
    blocks = 2 * task.context + 1
    slices = f" per axial slice, the slice then its {blocks - 1} neighbours ({task.context} on each side)" \
        if task.context else ""
    if task.imputation:
        n_seq = len(SEQUENCES)
        n_in = n_seq * blocks
        image_doc = f"image [N, {size}, {size}, {n_in}] ({', '.join(SEQUENCES)}{slices}; zeros where missing)"
        avail_spec = tf.TensorSpec([None, n_seq], tf.bool, name="available")
        avail_doc = f"available [N, {n_seq}] bool: which sequences are given (at least one per row)"

        def fill(images, available):
            available = _same_batch(images, _checked(available, "available", [None, n_seq]),
                                    "image, available")
            available = _require(tf.reduce_all(tf.reduce_any(available, axis=1)), available,
                                 "available: every row needs at least one given sequence")
            given = tf.cast(available, tf.float32)[:, None, None, :]
            out = G(imputation_input(images, available), training=False)
            return images[..., :n_seq] * given + out * (1.0 - given)

        def impute(image, available):
            return {"image": fill(_image(image, "image", size, n_in), available)}

        def impute_uint8(image, available):
            x = _from_uint8(_checked(image, "image", [None, size, size, n_in]))
            return {"image": _to_uint8(fill(x, available))}

        out_doc = f"image [N, {size}, {size}, {n_seq}]: given sequences passed through, missing ones synthesized"
        return {
            "serving_default": Endpoint(
                impute, {"image": (tf.TensorSpec([None, size, size, n_in], tf.float32, name="image"),
                                   image_doc + " float32 in [-1, 1]"),
                         "available": (avail_spec, avail_doc)},
                {"image": out_doc + ", float32 in [-1, 1]"}, "impute the missing sequences"),
            "impute_uint8": Endpoint(
                impute_uint8, {"image": (tf.TensorSpec([None, size, size, n_in], tf.uint8, name="image"),
                                         image_doc + " uint8 0..255"),
                               "available": (avail_spec, avail_doc)},
                {"image": out_doc + ", uint8"}, "impute, uint8 in and out (" + UINT8_NOTE + ")"),
        }
    c = len(task.sources) * blocks
    src_doc = f"source [N, {size}, {size}, {c}] ({', '.join(task.sources)} as channels{slices})"
    out_doc = f"image [N, {size}, {size}, 1] ({task.target})"

    def translate(source):
        return {"image": G(_image(source, "source", size, c), training=False)}

    def translate_uint8(source):
        x = _from_uint8(_checked(source, "source", [None, size, size, c]))
        return {"image": _to_uint8(G(x, training=False))}

    return {
        "serving_default": Endpoint(
            translate, {"source": (tf.TensorSpec([None, size, size, c], tf.float32, name="source"),
                                   src_doc + " float32 in [-1, 1]")},
            {"image": out_doc + " float32 in [-1, 1]"}, f"synthesize {task.target} from the source"),
        "translate_uint8": Endpoint(
            translate_uint8, {"source": (tf.TensorSpec([None, size, size, c], tf.uint8, name="source"),
                                         src_doc + " uint8 0..255")},
            {"image": out_doc + " uint8"}, "translate, uint8 in and out (" + UINT8_NOTE + ")"),
    }


def endpoints(task) -> dict[str, Endpoint]:
    """The serving signatures of a built task, by name (``serving_default`` first)."""
    return generative_endpoints(task) if task.cfg.generative else paired_endpoints(task)


def metadata(task, signatures: dict[str, Endpoint], run_dir=None) -> dict:
    """What a client needs besides the graph: config, sequences, sizes, ranges, signatures."""
    cfg = task.cfg
    info = {"format": FORMAT, "mri_gan_version": __version__, "model": cfg.model,
            "run": str(run_dir) if run_dir is not None else None,
            "image_size": cfg.image_size, "label_names": list(task.meta.get("label_names", [])),
            "normalisation": task.meta.get("normalisation", ""), "value_range": [-1.0, 1.0],
            "uint8": UINT8_NOTE, "inference_mode": "batch norm moving statistics; dropout off",
            "meta": task.meta, "config": cfg.to_dict(),
            "signatures": {name: ep.describe() for name, ep in signatures.items()}}
    if cfg.generative:
        info.update(kind="generate", sequences=list(cfg.family.sequences),
                    num_classes=int(getattr(task, "num_classes", 0) or 0), noise=noise_spec(task))
        if cfg.model == "pggan":
            level, alpha = task.current()
            info["growth"] = {"level": level, "alpha": alpha,
                              "resolution": cfg.pggan.start_size * 2 ** level}
    else:
        info.update(kind="impute" if task.imputation else "translate", sequences=list(SEQUENCES),
                    source=list(task.sources), target=task.target, context=task.context)
    return info


# -- writing -------------------------------------------------------------------------------------
def versions(base: Path) -> list[int]:
    """The integer version folders under a model folder."""
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def _target(out, version: int | None) -> tuple[Path, int]:
    base = check(out, overwrite=True, folder=True)   # the model folder: it may hold versions
    if (base / "saved_model.pb").exists():
        raise UserError(base, "is a SavedModel version folder; --out names the model folder that "
                              "holds numbered versions (e.g. saved_models/NAME)")
    if version is None:
        return base, max(versions(base), default=0) + 1
    if version < 1:
        raise UserError("--version", f"must be a positive integer, got {version}")
    if (base / str(version)).exists():
        raise UserError(base / str(version), "version exists already; choose another --version "
                                             "or omit it for the next one")
    return base, version


def write_export(task, out, version: int | None = None, run_dir=None) -> Path:
    """Write ``out/<version>/`` (next integer by default) for a built task; returns that folder."""
    import keras

    base, version = _target(out, version)
    signatures = endpoints(task)
    info = metadata(task, signatures, run_dir)
    with atomic_folder(base / str(version)) as tmp:
        archive = keras.export.ExportArchive()
        for name, ep in signatures.items():
            archive.add_endpoint(name, ep.fn, ep.specs)
        logger, level = tf.get_logger(), tf.get_logger().level
        logger.setLevel("WARNING")   # no "Assets written to <temporary folder>" line
        try:
            archive.write_out(str(tmp), verbose=False)
        finally:
            logger.setLevel(level)
        (tmp / METADATA).parent.mkdir(exist_ok=True)
        (tmp / METADATA).write_text(json.dumps(info, indent=1) + "\n")
    return base / str(version)


def export_run(run_dir, out, version: int | None = None, checkpoint: str = "best") -> Path:
    """Export a run's best checkpoint by validation (or with ``checkpoint="latest"`` its newest),
    or a shipped model (``"pretrained"`` or its folder), to ``out/<version>/``; returns that folder."""
    from mri_gan.inference import load_run, load_task
    from mri_gan.pretrained import locate

    run_dir = locate(run_dir)   # "pretrained": the model shipped with the package
    load_run(run_dir)   # one-line errors for a folder that is not a run
    _target(out, version)   # refuse an existing version before loading anything
    return write_export(load_task(run_dir, checkpoint), out, version, run_dir)
