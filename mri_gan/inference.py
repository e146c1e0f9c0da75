"""Using a trained run: load its task from the run directory, generate, balance, write images."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from mri_gan.atomic import atomic_folder
from mri_gan.data.preprocess import to_uint8
from mri_gan.errors import UserError
from mri_gan.run_dir import RunDir, load_run


def load_task(run_dir=None, checkpoint: str = "best"):
    """The run's task with the weights of its best checkpoint by validation (``checkpoint="best"``,
    where it kept one) or its newest readable one; for ``None`` or ``"pretrained"`` the model
    shipped with the package, for a shipped-model folder (mri_gan.pretrained) that model; for an
    exported model folder (mri_gan.export), an adapter with the same inference interface."""
    import tensorflow as tf

    from mri_gan import pretrained, serving
    from mri_gan.models import task_class
    from mri_gan.training.checkpoints import restore_for_inference

    run_dir = pretrained.locate(run_dir)
    if pretrained.available(run_dir):
        return pretrained.load(run_dir)
    if serving.is_export(run_dir):
        return serving.load_export(run_dir)
    cfg, meta = load_run(run_dir)
    task = task_class(cfg.model)(cfg, meta)
    task.build()
    task.checkpoint = restore_for_inference(tf.train.Checkpoint(**task.trackables()), RunDir(run_dir), checkpoint)
    return task


def label_index(meta: dict, label: str | None, conditional: bool, where: str = "--label") -> np.ndarray | None:
    if label is None:
        return None
    if not conditional:
        raise UserError(where, "this model is unconditional; train cdcgan (or a conditional pggan) "
                               "to generate a chosen class")
    names = meta["label_names"]
    if label not in names:
        raise UserError(where, f"unknown label {label!r} (this run knows: {', '.join(names)})")
    return np.int32(names.index(label))


def generate(task, n: int, label: str | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images [n, H, W, C] in [-1, 1] and their label indices (-1 when unconditional).

    A conditional model without ``label`` generates the classes in turn."""
    if n < 1:
        raise UserError("--n", "must be at least 1")
    if not hasattr(task, "noise"):
        raise UserError("--run", f"a {task.cfg.model} model translates sequences; generate needs a dcgan, "
                                 "cdcgan or pggan run (use `mri-gan synthesize` for pix2pix)")
    rng = np.random.default_rng([seed, 11])
    conditional = bool(getattr(task, "num_classes", 0))
    chosen = label_index(task.meta, label, conditional)
    if conditional:
        labels = (np.full(n, chosen, np.int32) if chosen is not None
                  else np.arange(n, dtype=np.int32) % task.num_classes)
    else:
        labels = None
    images = task.generate(task.noise(rng, n), labels)
    return images, labels if labels is not None else np.full(n, -1, np.int32)


def write_generated(images: np.ndarray, labels: np.ndarray, label_names: list[str], out,
                    overwrite: bool = False) -> Path:
    """docs/design.md layout: OUT/<label or all>/<index>.png (first channel, uint8) and OUT/samples.npz."""
    import cv2

    with atomic_folder(out, overwrite) as tmp:
        for i, (img, lab) in enumerate(zip(images, labels)):
            folder = tmp / (label_names[lab] if lab >= 0 else "all")
            folder.mkdir(exist_ok=True)
            cv2.imwrite(str(folder / f"{i:05d}.png"), to_uint8(img[..., 0]))
        np.savez_compressed(tmp / "samples.npz", images=images.astype(np.float32), labels=labels,
                            label_names=np.array(label_names))
    return Path(out)


def balance_plan(labels: np.ndarray, label_names: list[str]) -> dict[str, int]:
    """Synthetic images needed per class to bring every class to the majority count."""
    counts = Counter(label_names[i] for i in labels if i >= 0)
    if not counts:
        raise UserError("--data", "the source has no labels to balance")
    top = max(counts.values())
    return {name: top - counts.get(name, 0) for name in label_names}


def balance(task, data, out, seed: int = 0, overwrite: bool = False) -> dict:
    """Write a balanced copy of a labelled source: its real images plus synthetic minority images.

    Layout OUT/<class>/real_<subject>_<slice>.png and OUT/<class>/synthetic_<k>.png (uint8 gray,
    the model's size), so a classifier can train on OUT directly. Returns the counts."""
    import cv2

    if not getattr(task, "num_classes", 0):
        raise UserError("--run", "balancing needs a conditional model (cdcgan or conditional pggan)")
    names = task.meta["label_names"]
    labels = task.labels_of(data)
    source_names = ["no_tumor", "tumor"] if task.cfg.label_view == "binary" else data.label_names
    if list(source_names) != list(names):
        raise UserError("--data", f"labels {source_names} differ from the run's {names}")
    plan = balance_plan(labels, names)
    channel = task.cfg.family.sequences[0]
    with atomic_folder(out, overwrite) as tmp:
        for name in names:
            (tmp / name).mkdir()
        real = data.channels([channel])[..., 0]
        for img, lab, subj, k in zip(real, labels, data.subjects, data.slice_index):
            if lab >= 0:
                safe = str(subj).replace("/", "_").replace(os.sep, "_")
                cv2.imwrite(str(tmp / names[lab] / f"real_{safe}_{k}.png"), to_uint8(img))
        for c, name in enumerate(names):
            if plan[name]:
                rng = np.random.default_rng([seed, 13, c])
                imgs = task.generate(task.noise(rng, plan[name]), np.full(plan[name], c, np.int32))
                for k, img in enumerate(imgs):
                    cv2.imwrite(str(tmp / name / f"synthetic_{k:05d}.png"), to_uint8(img[..., 0]))
    counts = Counter(names[i] for i in labels if i >= 0)
    return {name: {"real": counts.get(name, 0), "synthetic": plan[name]} for name in names}
