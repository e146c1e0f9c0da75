"""`mri-gan stylize`: VGG19 style-transfer refinement of generated (or synthesized) images.

Content images are real MRI, style images the generated samples (the paper's pairing). Inputs:
a folder of images (any depth; PNG, JPEG, TIFF, BMP), a folder holding ``samples.npz`` (what
``mri-gan generate`` writes), or, for the content, any data source string. ``--run RUN_DIR``
takes the style images from ``RUN_DIR/samples.npz`` or ``RUN_DIR/generated/samples.npz``, or
generates ``--n`` samples from the run's newest checkpoint. Pix2Pix runs get the Gaussian edge
smoothing by default.

Output folder (written at once): ``stylized/<index>.png`` (uint8 gray), ``stylized.npz``
(``content``, ``style``, ``stylized`` float32 in [-1, 1], ``content_index``, ``style_index``
and per-pair losses ``loss_<name>`` [steps + 1, N]), ``losses.json`` (per-iteration losses
averaged over the pairs), ``loss_curves.png``, ``before_after.png`` and ``style_info.json``
(the VGG19 weights used and every setting).
"""

from __future__ import annotations

from pathlib import Path

SAMPLES = "samples.npz"


def register(subparsers) -> None:
    p = subparsers.add_parser("stylize", help="refine generated images with VGG19 style transfer",
                              description=__doc__.splitlines()[0])
    p.add_argument("--content", required=True, help="real images: folder of images, folder with samples.npz, "
                                                    "or a data source (KIND:PATH[?k=v])")
    style = p.add_mutually_exclusive_group(required=True)
    style.add_argument("--style", help="generated images: folder of images or folder with samples.npz")
    style.add_argument("--run", help="run directory to take (or generate) the style images from")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--steps", type=int, default=100, help="optimiser iterations (default 100)")
    p.add_argument("--pairing", choices=("random", "index"), default="random",
                   help="content image for each style image: random (seeded) or the same index")
    p.add_argument("--vgg-weights", default="auto", help="auto | imagenet | mri | random | PATH (default auto)")
    p.add_argument("--size", type=int, help="image size (default: the style images' size)")
    p.add_argument("--batch", type=int, default=64, help="pairs optimised together (default 64)")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam")
    p.add_argument("--lr", type=float, default=0.02, help="Adam learning rate in [-1, 1] image units")
    p.add_argument("--smooth-sigma", type=float,
                   help="Gaussian edge smoothing of the result (default 1.0 for Pix2Pix runs, else 0 = off)")
    p.add_argument("--alpha", type=float, default=1.0, help="content weight (default 1)")
    p.add_argument("--beta", type=float, default=10.0, help="style weight (default 10)")
    p.add_argument("--gamma", type=float, default=0.01, help="total-variation weight (default 0.01)")
    p.add_argument("--n", type=int, default=64, help="samples to generate with --run when it has none")
    p.add_argument("--sequence", help="sequence of a content data source (default: the most available)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def _check_args(args) -> None:
    from mri_gan.errors import UserError

    for name, low in (("steps", 1), ("batch", 1), ("n", 1)):
        if getattr(args, name) < low:
            raise UserError(f"--{name}", f"must be at least {low}")
    if args.size is not None and args.size < 16:
        raise UserError("--size", "must be at least 16 (VGG19 pools four times before block5)")
    for name in ("alpha", "beta", "gamma"):
        if getattr(args, name) < 0:
            raise UserError(f"--{name}", "must not be negative")
    if args.lr <= 0:
        raise UserError("--lr", "must be positive")
    if args.smooth_sigma is not None and args.smooth_sigma < 0:
        raise UserError("--smooth-sigma", "must not be negative")


def _resize(images, size: int):
    import numpy as np

    from mri_gan.data.preprocess import resize_image

    if images.shape[1:3] == (size, size):
        return images.astype(np.float32)
    return np.stack([resize_image(img, size) for img in images[..., 0]])[..., None]


def _read_npz(path: Path):
    import numpy as np

    from mri_gan.errors import UserError

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


class _Images:
    """Images read on demand: ``count`` and ``take(indices, size)`` -> [k, size, size, 1] in [-1, 1]."""

    def __init__(self, count: int, take, native_size: int):
        self.count, self.take, self.native_size = count, take, native_size


def _image_files(folder: Path) -> list[Path]:
    from mri_gan.data.reader import IMAGE_SUFFIXES

    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _from_folder(folder: Path) -> _Images | None:
    """A folder with samples.npz or image files, or None when it has neither."""
    import numpy as np

    from mri_gan.data.images import UnreadableFile, read_gray
    from mri_gan.data.preprocess import resize_image, to_model_range
    from mri_gan.errors import UserError

    if (folder / SAMPLES).is_file():
        images = _read_npz(folder / SAMPLES)
        return _Images(len(images), lambda idx, size: _resize(images[idx], size), images.shape[1])
    files = _image_files(folder)
    if not files:
        return None

    def read(path):
        try:
            return read_gray(path)
        except UnreadableFile as err:
            raise UserError(path, str(err)) from None

    def take(indices, size):
        return np.stack([to_model_range(resize_image(read(files[i]), size)) for i in indices])[..., None]

    return _Images(len(files), take, read(files[0]).shape[0])


def _from_source(text: str, sequence: str | None, size: int) -> _Images:
    import numpy as np

    from mri_gan.data.records import SEQUENCES, canonical_sequence
    from mri_gan.data.slice_set import load
    from mri_gan.errors import UserError

    slices, _ = load(text, size)
    if sequence is None:
        sequence = SEQUENCES[int(np.argmax(slices.available.sum(axis=0)))]
    sequence = canonical_sequence(sequence, "--sequence")
    images = slices.channels([sequence])[slices.has([sequence])]
    if not len(images):
        raise UserError(text, f"no slice has the {sequence} sequence")
    return _Images(len(images), lambda idx, size_: _resize(images[idx], size_), size)


def _style_images(args):
    """(images, description, model of the run or None)."""
    import numpy as np

    from mri_gan.errors import UserError

    if args.style is not None:
        folder = Path(args.style)
        if not folder.is_dir():
            raise UserError(folder, "no such folder")
        found = _from_folder(folder)
        if found is None:
            raise UserError(folder, f"no images and no {SAMPLES} found")
        return found.take(np.arange(found.count), args.size or found.native_size), str(folder), None
    from mri_gan import inference

    run_dir = Path(args.run)
    cfg, _ = inference.load_run(run_dir)
    for path in (run_dir / SAMPLES, run_dir / "generated" / SAMPLES):
        if path.is_file():
            images = _read_npz(path)
            return _resize(images, args.size or images.shape[1]), str(path), cfg.model
    if not cfg.generative:
        raise UserError(run_dir, f"a {cfg.model} run has no {SAMPLES}; write its synthesized images to a "
                                 "folder and pass it with --style")
    task = inference.load_task(run_dir)
    images, _ = inference.generate(task, args.n, None, args.seed)
    images = images[..., :1].astype(np.float32)
    return _resize(images, args.size or images.shape[1]), f"{run_dir} (generated {args.n}, seed {args.seed})", cfg.model


def _content_images(args, size: int) -> _Images:
    path = Path(args.content)
    found = _from_folder(path) if path.is_dir() else None
    return found if found is not None else _from_source(args.content, args.sequence, size)


def _write(out_dir: Path, content, style, stylized, pairs, result, settings: dict) -> None:
    import json

    import cv2
    import numpy as np

    from mri_gan.data.preprocess import to_uint8
    from mri_gan.style import figures

    (out_dir / "stylized").mkdir()
    for i, img in enumerate(stylized):
        cv2.imwrite(str(out_dir / "stylized" / f"{i:05d}.png"), to_uint8(img[..., 0]))
    np.savez_compressed(out_dir / "stylized.npz", content=content, style=style, stylized=stylized,
                        content_index=pairs, style_index=np.arange(len(style)),
                        **{f"loss_{n}": v for n, v in result.history.items()})
    means = result.mean_history()
    losses = {"definition": "per-iteration losses averaged over the pairs; iteration 0 is the content image",
              "alpha": settings["alpha"], "beta": settings["beta"], "gamma": settings["gamma"], **means}
    (out_dir / "losses.json").write_text(json.dumps(losses, indent=1) + "\n")
    figures.loss_curves(means, out_dir / "loss_curves.png",
                        title=f"Style transfer losses ({settings['vgg']['weights']} VGG19, {len(style)} pairs)")
    figures.before_after(content, style, stylized, out_dir / "before_after.png")
    (out_dir / "style_info.json").write_text(json.dumps(settings, indent=1, default=str) + "\n")


def run(args) -> int:
    import time

    import numpy as np

    from mri_gan import atomic
    from mri_gan.style import transfer, vgg

    _check_args(args)
    atomic.check(args.out, args.overwrite, folder=True)
    style, style_desc, run_model = _style_images(args)
    size = style.shape[1]
    content_set = _content_images(args, size)
    pairs = transfer.pair_indices(content_set.count, len(style), args.pairing, args.seed)
    content = content_set.take(pairs, size)
    sigma = args.smooth_sigma if args.smooth_sigma is not None else (1.0 if run_model == "pix2pix" else 0.0)

    extractor, vgg_info = vgg.feature_extractor(args.vgg_weights, seed=args.seed)
    print(f"VGG19 weights: {vgg_info['weights']}" + (f" ({vgg_info['file']})" if vgg_info.get("file") else "")
          + f", requested {vgg_info['requested']}", flush=True)
    loop = transfer.StyleTransfer(extractor, alpha=args.alpha, beta=args.beta, gamma=args.gamma,
                                  learning_rate=args.lr, optimizer=args.optimizer)
    start = time.perf_counter()

    def progress(done, total):
        rate = done * args.steps / (time.perf_counter() - start)
        print(f"stylized {done}/{total} pairs ({rate:.2f} image-iterations/s)", flush=True)

    result = transfer.stylize(loop, content, style, args.steps, batch_size=args.batch, progress=progress)
    seconds = time.perf_counter() - start
    stylized = transfer.smooth_edges(result.images, sigma).astype(np.float32)
    settings = {"vgg": vgg_info, "content": {"input": args.content, "available": content_set.count},
                "style": {"input": style_desc, "count": len(style), "run_model": run_model},
                "pairing": args.pairing, "seed": args.seed, "size": size, "steps": args.steps,
                "batch": args.batch, "optimizer": args.optimizer, "learning_rate": args.lr,
                "alpha": args.alpha, "beta": args.beta, "gamma": args.gamma, "smooth_sigma": sigma,
                "style_layers": list(loop.style_layers), "content_layers": list(loop.content_layers),
                "seconds": round(seconds, 2),
                "image_iterations_per_s": round(len(style) * args.steps / seconds, 3)}
    with atomic.atomic_folder(args.out, args.overwrite) as tmp:
        _write(tmp, content, style, stylized, pairs, result, settings)
    print(f"wrote {len(stylized)} stylized images to {args.out}")
    return 0
