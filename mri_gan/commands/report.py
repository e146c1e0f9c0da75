"""`mri-gan report`: one report for several runs, Table 1 side by side with the paper.

Each ``--runs`` item is a run directory (evaluated here against its own data source, or
``--data``) or a folder written by `mri-gan evaluate` or `mri-gan report` (its evaluations reused
as they are, e.g. one evaluated with ``--stylized``). Writes OUT/metrics.json, report.md,
report.html (figures embedded) and figures/*.png.
"""

from __future__ import annotations

from mri_gan.commands.common import add_data, add_evaluation_options, add_output, add_parser, command_line

EXAMPLES = ("mri-gan report --runs runs/cdcgan-quick runs/t1-flair-eval --out runs/report",)


def register(subparsers) -> None:
    p = add_parser(subparsers, "report", "report several runs (or evaluate outputs) side by side",
                   "One report for several runs or evaluations, Table 1 side by side with the paper.", EXAMPLES)
    p.add_argument("--runs", required=True, nargs="+", metavar="DIR",
                   help="run directories and / or `mri-gan evaluate` / `mri-gan report` output folders")
    add_output(p, "report folder (new or empty, unless --overwrite)")
    add_data(p, "data source for every run directory (default: each run's own)", default=None)
    add_evaluation_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from mri_gan import atomic, progress
    from mri_gan.evaluation.evaluate import evaluate_run
    from mri_gan.evaluation.report import is_evaluation, load_evaluations, write_report

    out = atomic.check(args.out, args.overwrite, folder=True)
    command = command_line("report", args)
    evals = []
    for i, item in enumerate(args.runs, 1):
        folder = Path(item)
        if is_evaluation(folder):
            evals += load_evaluations(folder)
            continue
        print(f"[{i}/{len(args.runs)}] evaluating {folder}", flush=True)
        with progress.shown(not args.no_progress):
            evals.append(evaluate_run(folder, args.data, None, args.feature_network, args.budget,
                                      args.vgg_weights, args.seed, command=command))
    path = write_report(evals, out, command, overwrite=args.overwrite)
    print(f"report: {path}")
    return 0
