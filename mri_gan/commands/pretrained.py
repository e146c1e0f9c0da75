"""`mri-gan pretrained pack`: a Pix2Pix imputation run into the shipped-model folder (see mri_gan.packing)."""


from mri_gan.commands.common import add_checkpoint, add_parser, add_run

EXAMPLES = ("mri-gan pretrained pack --run runs/impute --overwrite",)


def register(subparsers) -> None:
    p = add_parser(subparsers, "pretrained", "the imputation model shipped with the package",
                   "The imputation model shipped with the package (`--run pretrained`).", EXAMPLES)
    commands = p.add_subparsers(dest="pretrained_command", required=True, metavar="{pack}")
    pack = add_parser(commands, "pack", "write a pix2pix imputation run as the shipped model",
                      "Write a pix2pix imputation run (--target any) as a shipped-model folder: config, "
                      "model.json, float16 generator weights, model card.", EXAMPLES)
    add_run(pack, "the pix2pix --target any run directory")
    pack.add_argument("--out", help="the folder to write (default: the package's mri_gan/shipped/impute)")
    add_checkpoint(pack)
    pack.add_argument("--version", type=int, help="the shipped model's version (default: the replaced one's + 1, "
                                                  "else 1)")
    pack.add_argument("--overwrite", action="store_true", help="replace a shipped model already in the folder")
    pack.set_defaults(func=run_pack)


def run_pack(args) -> int:
    from mri_gan.packing import package

    out = package(args.run, args.out, args.checkpoint, args.version, args.overwrite)
    print(f"packed {args.run} into {out}; fill in the TODO figures of {out / 'MODEL_CARD.md'}")
    return 0
