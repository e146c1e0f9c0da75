"""`mri-gan demo`: cDCGAN and Pix2Pix on the phantom, style refinement, evaluation, one report."""

from __future__ import annotations

from mri_gan.commands.common import add_parser

EXAMPLES = ("mri-gan demo", "mri-gan demo --budget smoke --out runs/smoke-demo")


def register(subparsers) -> None:
    p = add_parser(subparsers, "demo", "the whole pipeline on the embedded phantom in a few CPU minutes",
                   "Train a cDCGAN and a Pix2Pix model on the embedded phantom, refine samples by style transfer, "
                   "evaluate both and fill a case with the shipped model: one report.", EXAMPLES)
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo; an earlier demo there "
                                                      "is replaced)")
    p.add_argument("--budget", default="demo", choices=("demo", "smoke"),
                   help="demo (a few minutes, default) or smoke (seconds, for tests)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from mri_gan.demo import run_demo

    run_demo(args.out, args.budget, progress=not args.no_progress)
    return 0
