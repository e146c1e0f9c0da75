"""`mri-gan stylize`: VGG19 style-transfer refinement of generated (or synthesized) images (see
mri_gan.style.pipeline; the output folder: mri_gan.style.output)."""

from __future__ import annotations

from mri_gan.commands.common import add_output, add_parser, add_run, add_seed

EXAMPLES = ("mri-gan stylize --content phantom --run runs/cdcgan-quick --steps 50 --out runs/stylized",
            "mri-gan stylize --content data/real_pngs --style runs/samples --vgg-weights mri --out runs/stylized")


def register(subparsers) -> None:
    p = add_parser(subparsers, "stylize", "refine generated images with VGG19 style transfer",
                   "Refine generated images by style transfer: each starts from a real image (content) and takes "
                   "on a generated one's texture (style).", EXAMPLES)
    p.add_argument("--content", required=True, help="real images: folder of images, folder with samples.npz, "
                                                    "or a data source (KIND:PATH[?k=v])")
    style = p.add_mutually_exclusive_group(required=True)
    style.add_argument("--style", help="generated images: folder of images or folder with samples.npz")
    add_run(style, "run directory to take the style images from (its samples.npz or generated/samples.npz), or "
                   "to generate --n from", default=None)
    add_output(p, "output folder (new or empty)")
    p.add_argument("--steps", type=int, default=100, help="optimiser iterations (default 100)")
    p.add_argument("--pairing", choices=("random", "index"), default="random",
                   help="content image for each style image: random (seeded) or the same index")
    p.add_argument("--vgg-weights", default="auto", help="auto | imagenet | mri | random | PATH (default auto)")
    p.add_argument("--size", type=int, help="image size (default: the style images' size)")
    p.add_argument("--batch", type=int, default=64, help="pairs optimised together (default 64)")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam", help="optimiser (default adam)")
    p.add_argument("--lr", type=float, default=0.02, help="Adam learning rate in [-1, 1] image units")
    p.add_argument("--smooth-sigma", type=float,
                   help="Gaussian edge smoothing of the result (default 1.0 for Pix2Pix runs, else 0 = off)")
    p.add_argument("--alpha", type=float, default=1.0, help="content weight (default 1)")
    p.add_argument("--beta", type=float, default=10.0, help="style weight (default 10)")
    p.add_argument("--gamma", type=float, default=0.01, help="total-variation weight (default 0.01)")
    p.add_argument("--n", type=int, default=64, help="samples to generate with --run when it has none")
    p.add_argument("--sequence", help="sequence of a content data source (default: the most available)")
    add_seed(p, "the pairing, of samples generated with --run and of random VGG19 weights")
    p.set_defaults(func=run)


def run(args) -> int:
    from mri_gan.style.pipeline import Settings, stylize

    settings = Settings(steps=args.steps, pairing=args.pairing, vgg_weights=args.vgg_weights, size=args.size,
                        batch=args.batch, optimizer=args.optimizer, lr=args.lr, smooth_sigma=args.smooth_sigma,
                        alpha=args.alpha, beta=args.beta, gamma=args.gamma, n=args.n, sequence=args.sequence,
                        seed=args.seed)
    count = stylize(args.content, args.style, args.run, args.out, settings, args.overwrite,
                    progress=lambda text: print(text, flush=True))
    print(f"wrote {count} stylized images to {args.out}")
    return 0
