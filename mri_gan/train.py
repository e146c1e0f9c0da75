"""`python -m mri_gan.train ARGS`: the same as `mri-gan train ARGS` (see mri_gan.commands.train)."""

import sys

from mri_gan.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", *sys.argv[1:]]))
