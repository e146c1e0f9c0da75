"""`mri-gan export`: write a run as a SavedModel version for TF Serving (see mri_gan.export)."""


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a run as a SavedModel for TF Serving")
    p.add_argument("--run", required=True, help="run directory, shipped-model folder, or pretrained (the model "
                                                "shipped with the package)")
    p.add_argument("--out", required=True, help="model folder saved_models/NAME (versions go inside)")
    p.add_argument("--checkpoint", default="best", choices=("best", "latest"),
                   help="the run's best checkpoint by validation (default; the newest where it kept none) "
                        "or its newest")
    p.add_argument("--version", type=int, help="version number (default: the next integer)")
    p.set_defaults(func=run)


def run(args) -> int:
    from mri_gan.export import export_run

    folder = export_run(args.run, args.out, args.version, args.checkpoint)
    print(f"exported {args.run} to {folder}")
    return 0
