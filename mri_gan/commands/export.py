"""`mri-gan export`: write a run as a SavedModel version for TF Serving (see mri_gan.export)."""

from mri_gan.commands.common import add_checkpoint, add_parser, add_run

EXAMPLES = ("mri-gan export --run runs/t1-flair --out saved_models/t1_flair",
            "mri-gan export --run pretrained --out saved_models/impute --version 3")


def register(subparsers) -> None:
    p = add_parser(subparsers, "export", "export a run as a SavedModel for TF Serving",
                   "Write a run's generator as the next SavedModel version of a TF Serving model folder.", EXAMPLES)
    add_run(p, "run directory, shipped-model folder, or pretrained (the model shipped with the package)")
    p.add_argument("--out", required=True, help="model folder saved_models/NAME (versions go inside)")
    add_checkpoint(p)
    p.add_argument("--version", type=int, help="version number (default: the next integer)")
    p.set_defaults(func=run)


def run(args) -> int:
    from mri_gan.export import export_run

    folder = export_run(args.run, args.out, args.version, args.checkpoint)
    print(f"exported {args.run} to {folder}")
    return 0
