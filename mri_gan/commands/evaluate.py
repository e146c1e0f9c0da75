"""`mri-gan evaluate`: the numbers of one run against a data source, as a report folder.

Writes OUT/metrics.json (every number with its definition and this command), report.md, a
self-contained report.html, figures/*.png, and curves.json / arrays.npz so that
`mri-gan report` can put this evaluation beside others without recomputing it.
"""

from __future__ import annotations

import sys

from mri_gan.commands.common import (
    add_checkpoint,
    add_data,
    add_evaluation_options,
    add_output,
    add_parser,
    add_run,
    command_line,
)

EXAMPLES = ("mri-gan evaluate --run runs/t1-flair --out runs/t1-flair-eval",
            "mri-gan evaluate --run runs/cdcgan-quick --stylized runs/stylized --budget full --out runs/cdcgan-eval")


def register(subparsers) -> None:
    p = add_parser(subparsers, "evaluate", "evaluate one run: paired or distribution metrics, "
                                           "two-sample test, downstream classifier, with and without style",
                   "Evaluate one run against a data source and write a report folder (metrics.json, report.html).",
                   EXAMPLES)
    add_run(p, "run directory")
    add_data(p, "data source KIND:PATH[?k=v] (default: the run's own)", default=None)
    add_output(p, "report folder (new or empty, unless --overwrite)")
    add_checkpoint(p)
    p.add_argument("--stylized", help="a `mri-gan stylize` output holding this run's stylized images")
    add_evaluation_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from mri_gan import atomic, progress
    from mri_gan.evaluation.evaluate import evaluate_run
    from mri_gan.evaluation.report import write_report

    atomic.check(args.out, args.overwrite, folder=True)
    command = command_line("evaluate", args)
    with progress.shown(not args.no_progress):
        ev = evaluate_run(args.run, args.data, args.stylized, args.feature_network, args.budget,
                          args.vgg_weights, args.seed, command=command, checkpoint=args.checkpoint)
    path = write_report([ev], args.out, command, overwrite=args.overwrite)
    for flag in ev.metrics.get("paired", {}).get("below_baseline", []):
        where = f"{flag['target']} " if flag.get("target") else ""
        sys.stderr.write(f"mri-gan: warning: {where}{flag['metric']} {flag['model']:.4g} is below baseline "
                         f"{flag['baseline']} ({flag['baseline_value']:.4g})\n")
    print(f"report: {path}")
    return 0
