"""Sub-commands of `mri-gan`, one module each (see mri_gan.cli)."""

from mri_gan.commands import data

COMMANDS = [data]
