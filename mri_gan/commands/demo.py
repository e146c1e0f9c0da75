"""`mri-gan demo`: cDCGAN and Pix2Pix on the phantom, style refinement, evaluation, one report."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="the whole pipeline on the embedded phantom in a few CPU minutes",
                              description=__doc__.splitlines()[0])
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
