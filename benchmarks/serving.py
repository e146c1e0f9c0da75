"""Exported signatures: latency and throughput by batch size, as TF Serving would run them.

Each model family is built at its `quick` preset size (weights untrained: speed does not depend
on them), exported with mri_gan.export, reloaded with ``tf.saved_model.load`` and every serving
signature is timed at batch sizes 1, 8 and 32 (``sample`` draws its noise in the graph). The
in-process Keras generator at batch 32 is timed too, so the cost of the signature's checks and
conversions shows as a ratio.
"""

from __future__ import annotations

import tempfile

import numpy as np

from benchmarks.common import rate_stats, report, timed, tiny

BATCHES = (1, 8, 32)
REPEATS = 5
#: name -> (model, config overrides on the quick preset)
FAMILIES = {
    "dcgan": ("dcgan", {}),
    "cdcgan": ("cdcgan", {}),
    "pix2pix": ("pix2pix", {"source": ["t1"], "target": "flair"}),
    "pix2pix_impute": ("pix2pix", {"target": "any"}),
    "pggan": ("pggan", {}),
}
LABELS = ["glioma", "meningioma", "no_tumor", "pituitary"]


def build(model: str, overrides: dict, preset: str = "quick"):
    import keras

    from mri_gan.config import resolve
    from mri_gan.models import task_class

    cfg = resolve(model, preset, "benchmark", overrides)
    meta = {"label_names": LABELS, "sequences": list(cfg.family.sequences), "data_kind": "benchmark",
            "normalisation": "images in [-1, 1]"}
    keras.utils.set_random_seed(0)
    task = task_class(model)(cfg, meta)
    task.build()
    if model == "pggan":   # the final resolution, stable (what a finished run exports)
        task.stage.assign(2 * (task.generator.levels - 1))
    return task


def inputs_for(fn, batch: int, rng: np.random.Generator) -> dict:
    """Random inputs of the signature's declared shapes and dtypes (batch axis = ``batch``)."""
    import tensorflow as tf

    out = {}
    for name, spec in fn.structured_input_signature[1].items():
        shape = [batch if d is None else d for d in spec.shape]
        if name == "n":
            value = np.int32(batch)
        elif name == "seed":
            value = np.int64(0)
        elif spec.dtype == tf.uint8:
            value = rng.integers(0, 256, shape).astype(np.uint8)
        elif spec.dtype == tf.bool:
            value = np.ones(shape, bool)
            value[:, -1] = False
        elif spec.dtype == tf.int32:
            value = rng.integers(0, len(LABELS), shape).astype(np.int32)
        else:
            value = rng.uniform(-1, 1, shape).astype(np.float32)
        out[name] = tf.constant(value)
    return out


def keras_call(task, batch: int):
    """The in-process generator call (inference mode) the export wraps, as a tf.function."""
    import tensorflow as tf

    from mri_gan.export import generator_call

    if task.cfg.generative:
        call = generator_call(task)
        z = tf.constant(task.noise(np.random.default_rng(0), batch))
        labels = tf.zeros([batch], tf.int32) if task.num_classes else None
        fn = tf.function(lambda: call(z, labels))
    else:
        x = tf.random.uniform([batch, task.cfg.image_size, task.cfg.image_size, task.in_channels], -1, 1)
        fn = tf.function(lambda: task.generator(x, training=False))
    return lambda: fn().numpy()


def main() -> None:
    import tensorflow as tf

    from mri_gan.export import write_export

    rng = np.random.default_rng(0)
    small = tiny()
    batches, repeats = ((1,), 1) if small else (BATCHES, REPEATS)
    for name, (model, overrides) in FAMILIES.items():
        task = build(model, overrides, "smoke" if small else "quick")
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_export(task, f"{tmp}/{name}")
            loaded = tf.saved_model.load(str(folder))
            report(f"serving {name}", image_size=task.cfg.image_size,
                   signatures=", ".join(sorted(loaded.signatures)))
            for sig_name, fn in sorted(loaded.signatures.items()):
                for batch in batches:
                    feed = inputs_for(fn, batch, rng)
                    secs = timed(lambda fn=fn, feed=feed: [v.numpy() for v in fn(**feed).values()], repeats)
                    report(f"serving {name} {sig_name} batch {batch}",
                           latency_ms={"median": 1e3 * float(np.median(secs)), "min": 1e3 * min(secs)},
                           images_per_s=rate_stats(secs, batch))
            batch = batches[-1]
            keras_secs = timed(keras_call(task, batch), repeats)
            sig = loaded.signatures["serving_default"]
            feed = inputs_for(sig, batch, rng)
            export_secs = timed(lambda sig=sig, feed=feed: [v.numpy() for v in sig(**feed).values()], repeats)
            report(f"serving {name} keras batch {batch}",
                   images_per_s=rate_stats(keras_secs, batch),
                   serving_default_over_keras=float(np.median(export_secs) / np.median(keras_secs)))


if __name__ == "__main__":
    main()
