"""`mri-gan train`: the same program as `python -m mri_gan.train`."""

from mri_gan.train import add_arguments


def register(subparsers) -> None:
    add_arguments(subparsers.add_parser("train", help="train a model into a run directory"))
