"""Sub-commands of `mri-gan`, one module each (see mri_gan.cli)."""

from mri_gan.commands import balance, data, generate, train

COMMANDS = [data, train, generate, balance]
