"""Run benchmarks by name: `python -m benchmarks` runs them all, `python -m benchmarks dcgan` one,
`python -m benchmarks table [--json PATH]` the one table of `make bench`, `python -m benchmarks
results PATH` its figures into the results page (`--evaluation NAME=REPORT ...`: held-out
evaluations of `mri-gan evaluate` too)."""

import importlib
import sys

from mri_gan.allocator import keep_freed_memory
from mri_gan.quiet import import_tensorflow

NAMES = ["readers", "input", "dcgan", "pix2pix", "pggan", "style", "serving", "distributed", "fill"]
#: run by name only, with their own arguments: `make bench`'s one table of the main workloads, and
#: the results page written from the figures it saved
OWN_ARGUMENTS = {"table", "results"}


def main(argv) -> int:
    if argv and argv[0] in OWN_ARGUMENTS:      # the table measures each row in a process of its own
        if argv[0] == "results":               # reads reports through mri_gan.evaluation, which imports it
            import_tensorflow()                 # without TensorFlow's start-up chatter on stderr
        return importlib.import_module(f"benchmarks.{argv[0]}").main(argv[1:])
    keep_freed_memory()  # as the CLI does, so the figures are the ones users get
    for name in argv or NAMES:
        if name not in NAMES:
            known = ", ".join(NAMES + sorted(OWN_ARGUMENTS))
            print(f"unknown benchmark {name!r} (known: {known}; {', '.join(sorted(OWN_ARGUMENTS))} alone)",
                  file=sys.stderr)
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
