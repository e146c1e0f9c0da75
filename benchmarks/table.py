"""`make bench`: one table of the main workloads, and the synthesis time per 240x240x155 case.

Each row is measured in a process of its own (``python -m benchmarks.table ROW`` prints it as
JSON), so its peak memory and its matmul peak (fp32, measured in that process, the roofline for
the ratio) are its own. Columns: images/s (median, min, max), GFLOP per image (TensorFlow's
profiler on the traced step; "-" for the input path, which has no matmuls), achieved GFLOP/s at
the median, the matmul peak, their ratio, peak resident memory. The synthesis line is `mri-gan
synthesize` minus process start, T1 -> FLAIR, with the quick preset's UNet width (untrained:
speed does not depend on the weights). With ``MRI_GAN_BENCH_TINY=1`` everything runs at a tiny size.
``--json PATH`` also saves the figures (with the date and the load average before and after) for
`python -m benchmarks results PATH` to write into the results page.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from benchmarks.common import matmul_peak_gflops, peak_memory_mb, tiny
from mri_gan.atomic import atomic_file, check
from mri_gan.errors import UserError

#: row -> (workload as printed, tiny workload as printed)
ROWS = {
    "pix2pix_float32": ("pix2pix train step UNet-128 + PatchGAN, batch 8, float32", "pix2pix 32 px batch 2 float32"),
    "pix2pix_bf16": ("pix2pix train step UNet-128 + PatchGAN, batch 8, bf16", "pix2pix 32 px batch 2 bf16"),
    "dcgan_float32": ("cDCGAN train step 128 px, batch 32, float32", "cDCGAN 16 px batch 2 float32"),
    "dcgan_bf16": ("cDCGAN train step 128 px, batch 32, bf16", "cDCGAN 16 px batch 2 bf16"),
    "input_translation": ("input path, translation 128 px, batch 64", "input translation 32 px batch 4"),
    "input_imputation": ("input path, imputation 128 px, batch 64", "input imputation 32 px batch 4"),
}
COLUMNS = ["images/s median", "min", "max", "GFLOP/image", "achieved GFLOP/s", "matmul peak GFLOP/s", "ratio",
           "peak memory MiB"]


def measure(row: str) -> dict:
    """The figures of one row, measured in this process."""
    small = tiny()
    peak = matmul_peak_gflops(256 if small else 2048)
    gflop = None
    if row.startswith("pix2pix"):
        from benchmarks.pix2pix import train_step

        precision = "float32" if row.endswith("float32") else "mixed_bfloat16"
        size, depth, batch, repeats = (32, 4, 2, 1) if small else (128, 7, 8, 8)
        figures = train_step(size, depth, batch, repeats, precision, False, peak)
        rates, gflop = figures["images_per_s"], figures.get("gflop_per_image")
    elif row.startswith("dcgan"):
        from benchmarks.dcgan import measure as dcgan_step

        precision = "float32" if row.endswith("float32") else "mixed_bfloat16"
        figures = dcgan_step(precision, *((16, 2, 1) if small else (128, 32, 5)))
        rates = figures["images_per_s"]
        gflop = figures["flops_per_image"] / 1e9 if "flops_per_image" in figures else None
    else:
        from benchmarks.input import input_rate

        kind = row.split("_", 1)[1]
        rates = input_rate(kind, 32, 4, 2, 2, 8) if small else input_rate(kind, 128)
    achieved = gflop * rates["median"] if gflop else None
    return {"images_per_s": rates, "gflop_per_image": gflop, "achieved_gflops": achieved, "peak_gflops": peak,
            "ratio": achieved / peak if achieved else None, "peak_memory_mb": peak_memory_mb()}


def synthesis_seconds() -> dict:
    """Seconds per case of `mri-gan synthesize` (median, min, max) and the case's size."""
    from benchmarks.pix2pix import synthesis_time

    if tiny():
        return {"slices": 4, **synthesis_time(4, 1, 32, 4, 4)["seconds"]}
    return {"slices": 155, **synthesis_time(32)["seconds"]}


def _cell(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _in_process(what: str) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.table", what], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _row_line(f: dict) -> str:
    rates = f["images_per_s"]
    cells = [rates["median"], rates["min"], rates["max"], f["gflop_per_image"], f["achieved_gflops"],
             f["peak_gflops"], f["ratio"], f["peak_memory_mb"]]
    return f"| {f['workload']} | " + " | ".join(_cell(c) for c in cells) + " |"


def _synthesis_line(s: dict) -> str:
    return (f"synthesis (mri-gan synthesize t1 -> flair, quick-preset UNet width) per 240x240x{s['slices']} case: "
            f"{s['median']:.3g} s median (min {s['min']:.3g}, max {s['max']:.3g}); goal < 10 s")


HEADER = ["| workload | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]


def table_lines(measured: dict) -> list[str]:
    """The table and the synthesis line of what ``--json`` saved, as Markdown lines."""
    return HEADER + [_row_line(f) for f in measured["rows"]] + ["", _synthesis_line(measured["synthesis"])]


def main(argv=()) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks table", description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="also save the figures to this new JSON file")
    args = parser.parse_args(argv)
    try:
        if args.json:
            check(args.json)      # refused before minutes of measuring
        load_before, rows = os.getloadavg(), []
        print("\n".join(HEADER))
        for row, names in ROWS.items():
            rows.append({"row": row, "workload": names[tiny()], **_in_process(row)})
            print(_row_line(rows[-1]), flush=True)
        synthesis = _in_process("synthesis")
        print("\n" + _synthesis_line(synthesis))
        if args.json:
            measured = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "tiny": tiny(),
                        "load_before": load_before, "load_after": os.getloadavg(), "rows": rows,
                        "synthesis": synthesis}
            with atomic_file(args.json) as tmp:
                tmp.write_text(json.dumps(measured, indent=1) + "\n")
    except UserError as err:
        print(err, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from mri_gan.allocator import keep_freed_memory

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keep_freed_memory()
    what = sys.argv[1]
    print(json.dumps(synthesis_seconds() if what == "synthesis" else measure(what)))
