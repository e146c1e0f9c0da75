"""Train the VGG19 trunk on MRI: medical-domain features for style transfer and FID.

The trunk (:func:`mri_gan.style.vgg.build_trunk`, behind the same gray -> caffe preprocessing)
gets two softmax heads on its last convolution (block5_conv4) averaged over space: the slice's class (the
source's labels, or the tumour / no-tumour view when the source has a single label name) and
the MRI sequence of the image (train and validation subsets share the label names of the
whole source). Every available sequence of a training slice is one example.
A head with fewer than two classes in the training split is left out. Only the training split (by subject) is
trained on; the validation split gives the accuracies stored beside the weights.

The default budget (64x64 inputs, 300 steps of 16 images) takes minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from mri_gan.atomic import atomic_folder, check
from mri_gan.data.records import SEQUENCES
from mri_gan.data.slice_set import SliceSet, load
from mri_gan.data.split import split_subjects
from mri_gan.errors import UserError
from mri_gan.style import vgg

log = logging.getLogger(__name__)

INITS = ("random", "imagenet")


def examples(slices: SliceSet, binary: bool):
    """(images [M, H, W, 1], class index [M] (-1 unknown), sequence index [M], class names).

    One example per (slice, available sequence); classes are the source's labels, or the
    tumour / no-tumour view when ``binary``.
    """
    labels, names = slices.binary_labels() if binary else (slices.labels, list(slices.label_names))
    slice_idx, seq_idx = np.nonzero(slices.available)
    images = slices.images[slice_idx, :, :, seq_idx][..., None]
    return images.astype(np.float32), labels[slice_idx].astype(np.int32), seq_idx.astype(np.int32), names


def _classifier(trunk: keras.Model, n_classes: int, n_sequences: int) -> keras.Model:
    """Gray images -> {head: logits}, on block5_conv4 averaged over space (any input from 16 px)."""
    features = vgg.features_model(trunk, ["block5_conv4"])
    features.trainable = True
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features.output["block5_conv4"])
    heads = {}
    if n_classes:
        heads["class"] = keras.layers.Dense(n_classes, name="class")(pooled)
    if n_sequences:
        heads["sequence"] = keras.layers.Dense(n_sequences, name="sequence")(pooled)
    return keras.Model(features.input, heads, name="vgg19_mri_pretrain")


def _initial_trunk(init: str, seed: int) -> keras.Model:
    if init == "imagenet":
        return vgg.load_trunk("imagenet", seed=seed)[0]
    if init != "random":
        raise UserError("--init", f"unknown initialisation {init!r} (known: {', '.join(INITS)})")
    trunk = vgg.build_trunk(seed)
    first = trunk.get_layer(vgg.CONV_LAYERS[0])
    kernel, bias = first.get_weights()
    first.set_weights([kernel / 127.5, bias])  # caffe inputs span about +-128: start at unit scale
    return trunk


def _masked_xent(logits, labels):
    """Mean sparse cross-entropy over the examples whose label is known (>= 0)."""
    known = labels >= 0
    xent = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.maximum(labels, 0), tf.cast(logits, tf.float32))
    known_f = tf.cast(known, tf.float32)
    return tf.reduce_sum(xent * known_f) / tf.maximum(tf.reduce_sum(known_f), 1.0)


def _accuracy(model, images, targets: dict, batch: int = 64) -> dict:
    correct = {name: [] for name in model.output}
    for start in range(0, len(images), batch):
        out = model(images[start:start + batch], training=False)
        for name, logits in out.items():
            correct[name].append(np.argmax(logits.numpy(), axis=-1) == targets[name][start:start + batch])
    result = {}
    for name, parts in correct.items():
        hits = np.concatenate(parts)
        known = targets[name] >= 0
        result[name] = float(hits[known].mean()) if known.any() else None
    return result


def train_trunk(train: SliceSet, val: SliceSet | None = None, steps: int = 300, batch_size: int = 16,
                learning_rate: float = 1e-4, seed: int = 0, init: str = "random",
                progress=None) -> tuple[keras.Model, dict]:
    """Train the trunk with the two heads; return it and a description of the training."""
    binary = len(train.label_names) < 2
    images, classes, sequences, class_names = examples(train, binary)
    seq_names = [SEQUENCES[i] for i in sorted(set(sequences.tolist()))]
    seq_targets = np.array([seq_names.index(SEQUENCES[i]) for i in sequences], np.int32)
    present = len(set(classes[classes >= 0].tolist()))
    if present < 2 and len(seq_names) < 2:
        raise UserError(train.source, "pretraining needs two or more classes or sequences in the training split; "
                                      f"it has {present} class(es) and {len(seq_names)} sequence(s)")
    keras.utils.set_random_seed(seed)
    trunk = _initial_trunk(init, seed)
    model = _classifier(trunk, len(class_names) if present >= 2 else 0,
                        len(seq_names) if len(seq_names) >= 2 else 0)
    targets = {"class": classes, "sequence": seq_targets}
    optimizer = keras.optimizers.Adam(learning_rate, clipnorm=1.0)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            losses = {name: _masked_xent(logits, y[name]) for name, logits in out.items()}
            loss = tf.add_n(list(losses.values()))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return losses

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    history = []
    for i in range(steps):
        pick = rng.integers(0, len(images), batch_size)
        flip = rng.random(batch_size) < 0.5
        x = images[pick]
        x[flip] = x[flip, :, ::-1]
        losses = step(tf.constant(x), {n: tf.constant(targets[n][pick]) for n in model.output})
        history.append({n: float(v) for n, v in losses.items()})
        if progress is not None:
            progress(i + 1, steps, history[-1])
    seconds = time.perf_counter() - start
    last = history[-min(20, len(history)):]
    info = {
        "heads": {"class": class_names if "class" in model.output else None,
                  "sequence": seq_names if "sequence" in model.output else None},
        "init": init, "steps": steps, "batch_size": batch_size, "learning_rate": learning_rate,
        "seed": seed, "image_size": int(train.size),
        "train": {"subjects": int(len(set(train.subjects))), "examples": int(len(images))},
        "final_loss": {n: float(np.mean([h[n] for h in last])) for n in model.output},
        "seconds": round(seconds, 1),
    }
    if val is not None and len(val):
        v_images, v_classes, v_sequences, _ = examples(val, binary)
        v_seq = np.array([seq_names.index(SEQUENCES[i]) if SEQUENCES[i] in seq_names else -1
                          for i in v_sequences], np.int32)
        info["val"] = {"subjects": int(len(set(val.subjects))), "examples": int(len(v_images)),
                       "accuracy": _accuracy(model, v_images, {"class": v_classes, "sequence": v_seq})}
    return trunk, info


def check_out(out: Path, overwrite: bool = False) -> None:
    """Refuse an output that is a file, a folder holding anything but MRI VGG19 weights, or,
    unless ``overwrite``, one holding them."""
    if check(out, overwrite=True, folder=True).exists() and any(out.iterdir()):
        if not (out / vgg.MRI_INFO).is_file():
            raise UserError(out, "exists, is not empty and holds no MRI VGG19 weights; choose a new --out")
        if not overwrite:
            raise UserError(out, "holds MRI VGG19 weights already; pass --overwrite to replace them")


def save(trunk: keras.Model, info: dict, out: Path, overwrite: bool = False) -> Path:
    """Write ``out/vgg19_trunk.weights.h5`` and ``out/vgg19_mri.json`` (replacing earlier ones only
    with ``overwrite``)."""
    out = Path(out)
    check_out(out, overwrite)
    with atomic_folder(out, overwrite=True) as tmp:
        trunk.save_weights(str(tmp / vgg.MRI_WEIGHTS))
        (tmp / vgg.MRI_INFO).write_text(json.dumps(dict(format=vgg.MRI_FORMAT, **info), indent=1) + "\n")
    return out


def pretrain(source: str, out: Path, size: int = 64, steps: int = 300, batch_size: int = 16,
             learning_rate: float = 1e-4, seed: int = 0, init: str = "random", progress=None,
             overwrite: bool = False) -> dict:
    """Load ``source``, split it by subject, train on the training split, save to ``out``."""
    check_out(Path(out), overwrite)
    slices, reader = load(source, size)
    split = split_subjects(slices.subjects, seed=seed)
    train, val = slices.of_subjects(split["train"]), slices.of_subjects(split["val"])
    trunk, info = train_trunk(train, val, steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                              seed=seed, init=init, progress=progress)
    info = {"data": source, "created_by": "mri-gan pretrain-vgg", **info}
    save(trunk, info, out, overwrite)
    log.info("MRI VGG19 weights written to %s", out)
    return info
