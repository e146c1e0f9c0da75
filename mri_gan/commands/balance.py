"""`mri-gan balance`: top up every minority class of a labelled source with synthetic images."""


def register(subparsers) -> None:
    p = subparsers.add_parser("balance", help="write a class-balanced copy of a source (real + synthetic)")
    p.add_argument("--run", required=True, help="a conditional run directory (cdcgan)")
    p.add_argument("--data", required=True, help="the labelled source to balance")
    p.add_argument("--out", required=True, help="output folder in class sub-folders")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from mri_gan import atomic, inference
    from mri_gan.data.slice_set import load

    atomic.check(args.out, args.overwrite, folder=True)
    task = inference.load_task(args.run)
    data, _ = load(args.data, task.cfg.image_size)
    counts = inference.balance(task, data, args.out, args.seed, args.overwrite)
    print(json.dumps({"out": str(args.out), "classes": counts}))
    return 0
