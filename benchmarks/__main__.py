"""Run benchmarks by name: `python -m benchmarks` runs them all, `python -m benchmarks dcgan` one,
`python -m benchmarks table` the one table of `make bench`."""

import importlib
import sys

from mri_gan.allocator import keep_freed_memory

NAMES = ["readers", "input", "dcgan", "pix2pix", "pggan", "style", "serving", "distributed", "fill"]
#: run by name only: `make bench`'s one table of the main workloads
TABLE = "table"


def main(argv) -> int:
    keep_freed_memory()  # as the CLI does, so the figures are the ones users get
    for name in argv or NAMES:
        if name not in NAMES + [TABLE]:
            print(f"unknown benchmark {name!r} (known: {', '.join(NAMES + [TABLE])})", file=sys.stderr)
            return 2
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError:
            print(f"{name}: not available yet", flush=True)
            continue
        module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
