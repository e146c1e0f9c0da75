"""`mri-gan data inspect | preview | phantom`: look at a data source, or write phantom NIfTI cases."""

from __future__ import annotations

import json
from pathlib import Path

from mri_gan.commands.common import add_parser, add_seed
from mri_gan.errors import UserError

SOURCE_HELP = ("data source KIND:PATH[?key=value&...]; KIND is phantom, folder, numpy, brats, slices "
               "or dicom and may be left out where the path tells it (e.g. phantom?subjects=8, "
               "folder:data/yes_no, slices:lgg?channels=t1,flair,t1ce)")


def register(subparsers) -> None:
    parser = add_parser(subparsers, "data", "inspect and preview data sources",
                        "Inspect and preview data sources; write cross-validation folds.",
                        ("mri-gan data inspect phantom?subjects=8 --size 64",))
    commands = parser.add_subparsers(dest="data_command", required=True, metavar="{inspect,preview,phantom,folds}")

    inspect = add_parser(commands, "inspect", "counts per subject, sequence and label; sizes; skips",
                         "Count the subjects, slices, sequences, labels, image shapes and skipped files of SOURCE.",
                         ("mri-gan data inspect folder:data/brain_tumor_mri_4class --json",
                          "mri-gan data inspect slices:data/lgg --size 128"))
    inspect.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.add_argument("--strict", action="store_true", help="stop at the first unreadable file (exit 2)")
    inspect.add_argument("--size", type=int, metavar="N",
                         help="also preprocess every slice to N x N as training would and report the array")
    inspect.set_defaults(func=run_inspect, needs_tf=False)

    preview = add_parser(commands, "preview", "PNG grid: rows = subjects, columns = sequences",
                         "Write a PNG grid of SOURCE: a row per subject, a column per sequence, tumours outlined.",
                         ("mri-gan data preview brats:data/cases --subjects 6 --out grid.png",))
    preview.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    preview.add_argument("--out", required=True, type=Path, metavar="GRID.png", help="the PNG to write")
    preview.add_argument("--subjects", type=int, default=4, metavar="N", help="rows (default 4)")
    preview.add_argument("--strict", action="store_true", help="stop at the first unreadable file (exit 2)")
    preview.add_argument("--overwrite", action="store_true", help="replace an existing GRID.png")
    preview.set_defaults(func=run_preview, needs_tf=False)

    phantom = add_parser(commands, "phantom", "write phantom subjects as NIfTI cases with BraTS names",
                         "Write N phantom subjects as NIfTI case folders, to try synthesize, fill and evaluate on "
                         "volumes.", ("mri-gan data phantom --out cases --subjects 2",))
    phantom.add_argument("--out", required=True, type=Path, metavar="CASE_DIR",
                         help="a new (or empty) folder; case i = subject i of phantom?subjects=N&seed=S, as "
                              "CASE_DIR/<case>/<case>_t1, _t1ce, _t2, _flair, _seg.nii.gz")
    phantom.add_argument("--subjects", type=int, default=2, metavar="N", help="cases to write (default 2)")
    add_seed(phantom, "the phantom")
    phantom.add_argument("--size", type=int, default=128, help="in-plane voxels (default 128)")
    phantom.add_argument("--overwrite", action="store_true", help="replace an existing non-empty CASE_DIR")
    phantom.set_defaults(func=run_phantom, needs_tf=False)

    folds = add_parser(commands, "folds", "cross-validation splits of a source's subjects, for train --split",
                       "Write K split files (fold-1.json ... fold-K.json) that test each subject of SOURCE once; "
                       "train one run per fold with `train --split`.",
                       ("mri-gan data folds brats:data/cases --k 6 --out folds",))
    folds.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    folds.add_argument("--k", type=int, required=True, help="number of folds (2 to the number of subjects)")
    folds.add_argument("--out", required=True, type=Path, metavar="DIR", help="a new (or empty) folder")
    folds.add_argument("--val-fraction", type=float, default=0.15,
                       help="share of each fold's other subjects that validate (default 0.15)")
    add_seed(folds, "the shuffle of the subjects")
    folds.add_argument("--overwrite", action="store_true", help="replace an existing non-empty DIR")
    folds.set_defaults(func=run_folds, needs_tf=False)


def run_inspect(args) -> int:
    from mri_gan.data.inspect import format_summary, summarize
    from mri_gan.data.source import open_source

    if args.size is not None and not 8 <= args.size <= 1024:
        raise UserError("--size", f"{args.size} is outside 8..1024")
    summary = summarize(open_source(args.source, strict=args.strict), size=args.size)
    print(json.dumps(summary) if args.json else format_summary(summary, args.source))
    return 0


def run_preview(args) -> int:
    from mri_gan.data.inspect import preview
    from mri_gan.data.source import open_source

    if args.subjects < 1:
        raise UserError("--subjects", "must be at least 1")
    rows, columns = preview(open_source(args.source, strict=args.strict), args.out, subjects=args.subjects,
                            overwrite=args.overwrite)
    print(f"wrote {args.out} ({rows} subject(s) x {columns} sequence(s))")
    return 0


def run_phantom(args) -> int:
    from mri_gan.data.phantom_cases import write_cases

    cases = write_cases(args.out, args.subjects, args.seed, args.size, args.overwrite,
                        progress=lambda i, n: print(f"case {i}/{n}", flush=True))
    print(f"wrote {len(cases)} case(s) into {args.out}: {', '.join(c.name for c in cases)}")
    return 0


def run_folds(args) -> int:
    from mri_gan.atomic import atomic_folder
    from mri_gan.data.source import open_source
    from mri_gan.data.split import folds, save_split

    subjects = {rec.subject for rec in open_source(args.source).records()}
    splits = folds(subjects, args.k, args.seed, args.val_fraction)
    with atomic_folder(args.out, args.overwrite) as tmp:
        for i, split in enumerate(splits, 1):
            save_split(split, tmp / f"fold-{i}.json")
    sizes = ", ".join(f"{len(s['train'])}/{len(s['val'])}/{len(s['test'])}" for s in splits)
    print(f"wrote {args.k} folds of {len(subjects)} subjects into {args.out} (train/val/test: {sizes})")
    return 0
