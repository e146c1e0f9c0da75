"""`mri-gan evaluate`: the numbers of one run against a data source, as a report folder.

Writes OUT/metrics.json (every number with its definition and this command), report.md, a
self-contained report.html, figures/*.png, and curves.json / arrays.npz so that
`mri-gan report` can put this evaluation beside others without recomputing it.
"""

from __future__ import annotations

import sys

FEATURE_HELP = ("feature network of FID / KID / precision / recall: auto (inception when its ImageNet weights "
                "are cached, else vgg19-mri when MRI VGG19 weights exist, else classifier), inception, "
                "vgg19-mri, classifier (default auto)")
VGG_HELP = ("VGG19 weights for running the style loop here when --stylized is not given: auto (ImageNet in "
            "the Keras cache, else saved_models/vgg19_mri, else skip), imagenet, mri, PATH, or none")


def add_evaluation_options(p) -> None:
    """Options shared by `evaluate` and `report`."""
    p.add_argument("--feature-network", default="auto", choices=("auto", "inception", "vgg19-mri", "classifier"),
                   help=FEATURE_HELP)
    p.add_argument("--budget", default="small", choices=("smoke", "small", "full"),
                   help="synthetic images, style iterations, classifier epochs and seeds (default small)")
    p.add_argument("--vgg-weights", default="auto", help=VGG_HELP)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate one run: paired or distribution metrics, "
                                               "two-sample test, downstream classifier, with and without style",
                              description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run directory")
    p.add_argument("--data", help="data source KIND:PATH[?k=v] (default: the run's own)")
    p.add_argument("--out", required=True, help="report folder (new or empty, unless --overwrite)")
    p.add_argument("--checkpoint", default="best", choices=("best", "latest"),
                   help="the run's best checkpoint by validation (default; the newest where it kept none) "
                        "or its newest")
    p.add_argument("--stylized", help="a `mri-gan stylize` output holding this run's stylized images")
    add_evaluation_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from mri_gan import atomic
    from mri_gan.evaluation.evaluate import command_of, evaluate_run
    from mri_gan.evaluation.report import write_report

    atomic.check(args.out, args.overwrite, folder=True)
    command = command_of("evaluate", args)
    ev = evaluate_run(args.run, args.data, args.stylized, args.feature_network, args.budget,
                      args.vgg_weights, args.seed, command=command, checkpoint=args.checkpoint)
    path = write_report([ev], args.out, command, overwrite=args.overwrite)
    for flag in ev.metrics.get("paired", {}).get("below_baseline", []):
        where = f"{flag['target']} " if flag.get("target") else ""
        sys.stderr.write(f"mri-gan: warning: {where}{flag['metric']} {flag['model']:.4g} is below baseline "
                         f"{flag['baseline']} ({flag['baseline_value']:.4g})\n")
    print(f"report: {path}")
    return 0
