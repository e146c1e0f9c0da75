"""`mri-gan generate`: sample a trained generative run (or an exported model)."""

from mri_gan.commands.common import add_parser, add_sampling_options

EXAMPLES = ("mri-gan generate --run runs/cdcgan-quick --n 64 --label tumor --out runs/samples",)


def register(subparsers) -> None:
    p = add_parser(subparsers, "generate", "generate images from a DCGAN / cDCGAN / PGGAN run",
                   "Write images sampled from a generative run (PNGs per class and samples.npz).", EXAMPLES)
    add_sampling_options(p, "run directory or exported model folder",
                         "output folder: <label or all>/<index>.png + samples.npz", "the noise")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--label", help="class to generate (conditional models)")
    p.set_defaults(func=run)


def run(args) -> int:
    from mri_gan import atomic, inference

    atomic.check(args.out, args.overwrite, folder=True)
    task = inference.load_task(args.run)
    images, labels = inference.generate(task, args.n, args.label, args.seed)
    out = inference.write_generated(images, labels, task.meta["label_names"], args.out, args.overwrite)
    print(f"wrote {len(images)} images to {out}")
    return 0
