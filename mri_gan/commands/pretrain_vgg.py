"""`mri-gan pretrain-vgg`: train VGG19 features on MRI (for `stylize --vgg-weights mri` and FID)."""

from __future__ import annotations

from mri_gan.commands.common import add_data, add_output, add_parser, add_seed

EXAMPLES = ("mri-gan pretrain-vgg --data slices:data/lgg --steps 500",)


def register(subparsers) -> None:
    p = add_parser(subparsers, "pretrain-vgg", "train MRI-domain VGG19 weights (tumour class and sequence heads)",
                   "Train VGG19 features on MRI, for `stylize --vgg-weights mri` and the vgg19-mri feature "
                   "network.", EXAMPLES)
    add_data(p, "data source (KIND:PATH[?k=v]); its training split is used")
    add_output(p, "output folder (default saved_models/vgg19_mri, where --vgg-weights mri looks)",
               "MRI VGG19 weights already in --out", default="saved_models/vgg19_mri")
    p.add_argument("--size", type=int, default=64, help="input size (default 64)")
    p.add_argument("--steps", type=int, default=200, help="training steps (default 200)")
    p.add_argument("--batch", type=int, default=16, help="images per step (default 16)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4)")
    p.add_argument("--init", choices=("random", "imagenet"), default="random",
                   help="start from random (He) or ImageNet weights (default random)")
    add_seed(p, "the weights and batches")
    p.set_defaults(func=run)


def run(args) -> int:
    from mri_gan.errors import UserError

    for name, low in (("size", 16), ("steps", 1), ("batch", 1)):
        if getattr(args, name) < low:
            raise UserError(f"--{name}", f"must be at least {low}")
    if args.lr <= 0:
        raise UserError("--lr", "must be positive")

    from mri_gan.style import pretrain

    every = max(1, args.steps // 10)

    def progress(step, steps, losses):
        if step % every == 0 or step == steps:
            shown = ", ".join(f"{name} loss {value:.3f}" for name, value in losses.items())
            print(f"step {step}/{steps}: {shown}", flush=True)

    info = pretrain.pretrain(args.data, args.out, size=args.size, steps=args.steps, batch_size=args.batch,
                             learning_rate=args.lr, seed=args.seed, init=args.init, progress=progress,
                             overwrite=args.overwrite)
    accuracy = info.get("val", {}).get("accuracy", {})
    shown = ", ".join(f"{name} {value:.3f}" for name, value in accuracy.items() if value is not None)
    print(f"wrote MRI VGG19 weights to {args.out}" + (f" (validation accuracy: {shown})" if shown else ""))
    return 0
