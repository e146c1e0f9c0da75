"""`mri-gan fill`: every missing sequence of a NIfTI case, with uncertainty maps (see mri_gan.fill)."""

import json
import sys

from mri_gan.commands.common import add_checkpoint, add_output, add_parser, add_run

EXAMPLES = ("mri-gan fill data/case_001 --out runs/case_001_filled",
            "mri-gan fill t1=case/t1.nii.gz t2=case/t2.nii.gz --out runs/filled --no-uncertainty")


def register(subparsers) -> None:
    p = add_parser(subparsers, "fill", "synthesize every missing sequence of a case, with uncertainty maps",
                   "Synthesize every sequence a NIfTI case lacks, with uncertainty maps and a QC picture.", EXAMPLES)
    p.add_argument("case", nargs="+", metavar="CASE",
                   help="a case folder (BraTS names), NIfTI files named by sequence, or SEQ=PATH pairs")
    add_output(p, "a new folder for the synthesized volumes, qc.png and fill.json")
    add_run(p, "a pix2pix run directory, shipped-model folder or exported model (--target any fills any missing "
               "subset); default: the imputation model shipped with the package (pretrained)", default="pretrained")
    add_checkpoint(p)
    p.add_argument("--no-uncertainty", action="store_true", help="skip the uncertainty maps (one draw per sequence)")
    p.add_argument("--samples", type=int, default=8, help="test-time draws per uncertainty map (default 8)")
    p.add_argument("--json", action="store_true", help="print the record (fill.json) as one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from mri_gan import atomic, inference
    from mri_gan.fill import fill, model_record
    from mri_gan.synthesis import task_translator

    atomic.check(args.out, args.overwrite, folder=True)
    task = inference.load_task(args.run, args.checkpoint)
    record = fill(args.case, args.out, task_translator(task), not args.no_uncertainty, args.samples,
                  model=model_record(task, args.run), progress=lambda text: print(text, file=sys.stderr, flush=True),
                  overwrite=args.overwrite)
    if args.json:
        print(json.dumps(record))
    elif not record["synthesized"]:
        print(f"{record['case']}: nothing written ({record['note']})")
    else:
        done = ", ".join(e["sequence"] for e in record["synthesized"])
        print(f"{record['case']}: wrote {done} (from {', '.join(record['given'])}) to {record['out']}")
    return 0
