"""The output folder of a stylize run, written here and read back by evaluation.

``stylized/<index>.png`` (uint8 gray), ``stylized.npz`` (``content``, ``style``, ``stylized``
float32 in [-1, 1], ``content_index``, ``style_index`` and per-pair losses ``loss_<name>``
[steps + 1, N]), ``losses.json`` (per-iteration losses averaged over the pairs),
``loss_curves.png``, ``before_after.png`` and ``style_info.json`` (the VGG19 weights used and
every setting).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from mri_gan.data.preprocess import resize_image, to_uint8
from mri_gan.errors import UserError
from mri_gan.style import figures
from mri_gan.style.inputs import SAMPLES
from mri_gan.style.transfer import StyleResult

ARRAYS = "stylized.npz"
LOSSES = "losses.json"
SETTINGS = "style_info.json"


def is_output(folder: Path) -> bool:
    return (Path(folder) / ARRAYS).is_file()


def write(out_dir: Path, content, style, stylized, pairs, result: StyleResult, settings: dict) -> None:
    """Write every file of the output into ``out_dir`` (an empty folder, e.g. an atomic_folder's)."""
    (out_dir / "stylized").mkdir()
    for i, img in enumerate(stylized):
        cv2.imwrite(str(out_dir / "stylized" / f"{i:05d}.png"), to_uint8(img[..., 0]))
    np.savez_compressed(out_dir / ARRAYS, content=content, style=style, stylized=stylized,
                        content_index=pairs, style_index=np.arange(len(style)),
                        **{f"loss_{n}": v for n, v in result.history.items()})
    means = result.mean_history()
    losses = {"definition": "per-iteration losses averaged over the pairs; iteration 0 is the content image",
              "alpha": settings["alpha"], "beta": settings["beta"], "gamma": settings["gamma"], **means}
    (out_dir / LOSSES).write_text(json.dumps(losses, indent=1) + "\n")
    figures.loss_curves(means, out_dir / "loss_curves.png",
                        title=f"Style transfer losses ({settings['vgg']['weights']} VGG19, {len(style)} pairs)")
    figures.before_after(content, style, stylized, out_dir / "before_after.png")
    (out_dir / SETTINGS).write_text(json.dumps(settings, indent=1, default=str) + "\n")


def read(folder: Path, size: int) -> tuple[dict, dict, dict]:
    """An output's arrays (stylized, content, style as [N, size, size, 1]; style_index), its mean
    losses per iteration and its settings."""
    try:
        with np.load(folder / ARRAYS) as data:
            arrays = {k: np.asarray(data[k], np.float32) for k in ("stylized", "content", "style")}
            arrays["style_index"] = np.asarray(data["style_index"])
    except (OSError, ValueError, KeyError) as err:
        raise UserError(folder / ARRAYS, f"cannot read stylized images: {err}") from None
    for key in ("stylized", "content", "style"):
        images = arrays[key][..., :1]
        if images.shape[1:3] != (size, size):
            images = np.stack([resize_image(img, size) for img in images[..., 0]])[..., None]
        arrays[key] = images
    losses, settings = {}, {}
    for name, target in ((LOSSES, losses), (SETTINGS, settings)):
        if (folder / name).is_file():
            try:
                target.update(json.loads((folder / name).read_text()))
            except json.JSONDecodeError as err:
                raise UserError(folder / name, f"not valid JSON: {err}") from None
    losses = {k: v for k, v in losses.items() if isinstance(v, list)}
    settings = {"source": f"mri-gan stylize output {folder}", **settings}
    return arrays, losses, settings


def style_labels(settings: dict, style_index: np.ndarray) -> np.ndarray | None:
    """Class indices of an output's images when its style input was a generate output."""
    given = settings.get("style", {}).get("input")
    if not given:
        return None
    path = Path(str(given))
    path = path if path.name == SAMPLES else path / SAMPLES
    if not path.is_file():
        return None
    with np.load(path) as data:
        if "labels" not in data:
            return None
        labels = np.asarray(data["labels"])
    if style_index.max(initial=-1) >= len(labels):
        return None
    return labels[style_index].astype(np.int32)
