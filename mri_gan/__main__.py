"""`python -m mri_gan` is the same program as `mri-gan`."""

from mri_gan.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
