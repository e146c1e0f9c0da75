"""`mri-gan launch-local --workers N -- TRAIN_ARGS...`: try multi-worker training on one machine."""

import argparse

from mri_gan.commands.common import add_parser

EXAMPLES = ("mri-gan launch-local --workers 2 -- --model dcgan --preset smoke --out runs/two-workers",)


def register(subparsers) -> None:
    p = add_parser(subparsers, "launch-local", "run N local workers under MultiWorkerMirroredStrategy",
                   "Train with N worker processes on this machine under MultiWorkerMirroredStrategy.", EXAMPLES)
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--threads-per-worker", type=int, default=1, help="CPU threads of each worker (default 1)")
    p.add_argument("--timeout", type=float, default=None, help="stop the job after this many seconds")
    p.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the arguments of `mri-gan train`")
    p.set_defaults(func=run)


def run(args) -> int:
    from mri_gan.errors import UserError
    from mri_gan.training.launch import launch

    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    if not train_args:
        raise UserError("launch-local", "give the training arguments after --")
    return launch(train_args, args.workers, args.threads_per_worker, args.timeout, args.grace)
