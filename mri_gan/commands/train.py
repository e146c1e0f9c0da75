"""`mri-gan train` (also `python -m mri_gan.train`): train a model into a run directory."""

from __future__ import annotations

import sys

from mri_gan.commands.common import add_data, add_parser
from mri_gan.config import MODELS, PRESET_NAMES, STRATEGIES
from mri_gan.errors import UserError

EXAMPLES = ("mri-gan train --model pix2pix --data slices:data/lgg --source t1 --target flair --out runs/t1-flair",
            "mri-gan train --model cdcgan --preset smoke --set steps=200 --out runs/try")


def register(subparsers) -> None:
    parser = add_parser(subparsers, "train", "train a model into a run directory",
                        "Train a model into a run directory (also `python -m mri_gan.train`).", EXAMPLES)
    parser.add_argument("--model", required=True, choices=MODELS, help="the model family to train")
    add_data(parser, "data source KIND:PATH[?k=v] (default: phantom)", default="phantom")
    parser.add_argument("--preset", default="quick", choices=PRESET_NAMES,
                        help="paper (the paper's Table 1), quick (CPU minutes, default) or smoke (seconds)")
    parser.add_argument("--out", default=None, help="run directory (default runs/<model>-<preset>)")
    parser.add_argument("--source", action="append", help="pix2pix input sequence (repeatable)")
    parser.add_argument("--target", help="pix2pix target sequence, or 'any' for imputation")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable), e.g. --set steps=200")
    parser.add_argument("--strategy", default="auto", choices=STRATEGIES,
                        help="tf.distribute strategy (default auto: multiworker where TF_CONFIG is set, mirrored over "
                             "several GPUs, else default)")
    parser.add_argument("--split", metavar="FILE",
                        help="a split.json (train, val, test lists of subject names) to use instead of drawing one "
                             "by --set seed / val_fraction / test_fraction: a fixed test set, cross-validation folds")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args) -> int:
    from mri_gan.commands.sets import parse_sets, typed_sets
    from mri_gan.config import resolve
    from mri_gan.training.distribute import apply_thread_limit
    from mri_gan.training.trainer import Trainer, TrainingStopped

    apply_thread_limit()

    for option, value in (("--source", args.source), ("--target", args.target)):
        if value and args.model != "pix2pix":
            raise UserError(option, f"is for pix2pix, not {args.model}")
    overrides = parse_sets(args.set)
    if args.source:
        overrides["source"] = ",".join(args.source)
    if args.target:
        overrides["target"] = args.target
    cfg = resolve(args.model, args.preset, args.data, typed_sets(args.model, overrides))
    out = args.out or f"runs/{args.model}-{args.preset}"
    trainer = Trainer(cfg, out, args.strategy, args.resume, progress=not args.no_progress, split_file=args.split)
    try:
        last = trainer.fit()
    except TrainingStopped as err:
        sys.stderr.write(f"mri-gan: error: {err}\n")
        return 1
    if trainer.chief:
        print(f"run: {out}  " + "  ".join(f"{k}={v}" for k, v in last.items()))
    return 0
