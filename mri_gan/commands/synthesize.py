"""`mri-gan synthesize`: a missing sequence for one case (NIfTI in -> NIfTI out) or for folders
of 2-D slices (PNGs out), from a Pix2Pix run."""

import json

from mri_gan.commands.common import add_checkpoint, add_output, add_parser, add_run

EXAMPLES = ("mri-gan synthesize --input data/case_001 --target flair --out runs/case_001_flair.nii.gz",
            "mri-gan synthesize --run runs/t1-flair --input t1=pngs/t1 --target flair --out runs/flair_pngs")


def register(subparsers) -> None:
    p = add_parser(subparsers, "synthesize", "synthesize a missing MRI sequence with a pix2pix run",
                   "Synthesize one sequence of a NIfTI case (NIfTI out) or of folders of 2-D slices (PNGs out).",
                   EXAMPLES)
    add_run(p, "a pix2pix run directory, shipped-model folder or exported model; default: the imputation model "
               "shipped with the package (pretrained)", default="pretrained")
    p.add_argument("--input", required=True, nargs="+", metavar="CASE_DIR_OR_NIFTI",
                   help="a BraTS case folder, NIfTI files named by sequence, or SEQ=PATH pairs "
                        "(NIfTI files, or folders of 2-D images)")
    p.add_argument("--target", required=True, help="the sequence to synthesize (t1, t1ce, t2, flair)")
    add_output(p, "OUT.nii.gz for volumes, a new folder for 2-D slices")
    p.add_argument("--compare", metavar="REAL_NIFTI",
                   help="the case's real target volume: print SSIM / PSNR / MAE / NMSE inside the "
                        "brain mask of the synthesis and of each input copied as the target")
    add_checkpoint(p)
    p.add_argument("--batch", type=int, default=32, help="slices per network call (default 32)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from mri_gan import inference
    from mri_gan.synthesis import check_out, synthesize, task_translator

    check_out(args.out, args.overwrite)
    translator = task_translator(inference.load_task(args.run, args.checkpoint))
    summary = synthesize(args.input, args.target, translator, args.out, args.batch, args.compare, args.overwrite)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"wrote {summary['target']} to {summary['out']} (from {', '.join(summary['inputs'])})")
    if "compare" in summary:
        print(f"against {summary['compare']['real']}, inside the brain mask:")
        figures = summary["compare"]["figures"]
        def ratio(v):
            return "-" if v is None else f"{v:.2f}"

        for name, f in figures.items():
            scores = ("" if name == "real" else f"SSIM {f['ssim']:.3f}  PSNR {f['psnr']:.2f} dB  "
                      f"MAE {f['mae']:.4f}  NMSE {f['nmse']:.4f}  ")
            print(f"  {name:<14} {scores:<58}bright {ratio(f['bright'])}  dark {ratio(f['dark'])}")
        real = figures["real"]
        print(f"  (bright / dark: mean over the real target's {real['bright_voxels']} voxels above "
              f"2x / {real['dark_voxels']} voxels below 0.5x its brain median, over each volume's "
              f"brain median)")
    return 0
