"""The images a stylize run starts from: style images (generated or synthesized) and content images
(real MRI), read from a folder of images, a folder holding ``samples.npz`` (what ``mri-gan
generate`` writes), a run directory, or (content only) any data source string."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mri_gan import inference
from mri_gan.data.images import UnreadableFile, read_gray
from mri_gan.data.preprocess import resize_image, to_model_range
from mri_gan.data.reader import IMAGE_SUFFIXES
from mri_gan.data.records import SEQUENCES, canonical_sequence
from mri_gan.data.slice_set import load
from mri_gan.errors import UserError
from mri_gan.run_dir import RunDir

SAMPLES = "samples.npz"


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """[N, H, W, 1] images as float32 [N, size, size, 1]."""
    if images.shape[1:3] == (size, size):
        return images.astype(np.float32)
    return np.stack([resize_image(img, size) for img in images[..., 0]])[..., None]


def read_samples(path: Path) -> np.ndarray:
    """The ``images`` of a samples.npz as [N, H, W, 1] in [-1, 1]."""
    try:
        with np.load(path) as data:
            images = np.asarray(data["images"], np.float32)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(path, f"cannot read generated samples: {err}") from None
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or len(images) == 0:
        raise UserError(path, f"expected images [N, H, W, C], got shape {images.shape}")
    return np.clip(images[..., :1], -1.0, 1.0)


@dataclass
class Images:
    """Images read on demand: ``take(indices, size)`` -> [k, size, size, 1] in [-1, 1]."""

    count: int
    take: Callable[[np.ndarray, int], np.ndarray]
    native_size: int


def from_folder(folder: Path) -> Images | None:
    """A folder with samples.npz or image files (any depth), or None when it has neither."""
    if (folder / SAMPLES).is_file():
        images = read_samples(folder / SAMPLES)
        return Images(len(images), lambda idx, size: resize(images[idx], size), images.shape[1])
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        return None

    def read(path):
        try:
            return read_gray(path)
        except UnreadableFile as err:
            raise UserError(path, str(err)) from None

    def take(indices, size):
        return np.stack([to_model_range(resize_image(read(files[i]), size)) for i in indices])[..., None]

    return Images(len(files), take, read(files[0]).shape[0])


def from_source(text: str, sequence: str | None, size: int) -> Images:
    """One sequence of a data source (default: the one most slices have)."""
    slices, _ = load(text, size)
    if sequence is None:
        sequence = SEQUENCES[int(np.argmax(slices.available.sum(axis=0)))]
    sequence = canonical_sequence(sequence, "--sequence")
    images = slices.channels([sequence])[slices.has([sequence])]
    if not len(images):
        raise UserError(text, f"no slice has the {sequence} sequence")
    return Images(len(images), lambda idx, size_: resize(images[idx], size_), size)


def style_images(style: str | None, run: str | None, size: int | None, n: int, seed: int):
    """The style images of a folder (``style``) or of a run directory: its samples.npz, else ``n``
    samples generated from its newest checkpoint. Returns (images, description, the run's model or None)."""
    if style is not None:
        folder = Path(style)
        if not folder.is_dir():
            raise UserError(folder, "no such folder")
        found = from_folder(folder)
        if found is None:
            raise UserError(folder, f"no images and no {SAMPLES} found")
        return found.take(np.arange(found.count), size or found.native_size), str(folder), None
    trained = RunDir(run)
    cfg, _ = trained.load()
    path = trained.generated_samples()
    if path is not None:
        images = read_samples(path)
        return resize(images, size or images.shape[1]), str(path), cfg.model
    if not cfg.generative:
        raise UserError(trained.path, f"a {cfg.model} run has no {SAMPLES}; write its synthesized images "
                                      "to a folder and pass it with --style")
    images, _ = inference.generate(inference.load_task(trained.path), n, None, seed)
    images = images[..., :1].astype(np.float32)
    return resize(images, size or images.shape[1]), f"{trained.path} (generated {n}, seed {seed})", cfg.model


def content_images(content: str, sequence: str | None, size: int) -> Images:
    """Content images: a folder of images or samples.npz, else a data source string."""
    path = Path(content)
    found = from_folder(path) if path.is_dir() else None
    return found if found is not None else from_source(content, sequence, size)
