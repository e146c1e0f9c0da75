"""The `mri-gan` program: sub-commands, argument parsing and error reporting only.

Each sub-command lives in ``mri_gan/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func(args) -> int`` (and ``needs_tf=False`` when it never
touches TensorFlow). Heavy imports happen inside ``func`` so that ``mri-gan --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys

from mri_gan import __version__
from mri_gan.errors import UserError

DESCRIPTION = ("Synthesize missing brain-MRI sequences (T1, T1ce, T2, FLAIR), generate tumour / no-tumour "
               "slices to balance datasets, refine them by VGG19 style transfer, and evaluate and report the "
               "results.")

class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake on one line with exit code 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from mri_gan.commands import COMMANDS

    parser = _Parser(prog="mri-gan", description=DESCRIPTION, epilog="`mri-gan COMMAND --help` describes a "
                                                                     "command, with examples.")
    parser.add_argument("--version", action="version", version=f"mri_gan {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def run(func, args) -> int:
    """Call a command, turning user mistakes into one stderr line and exit code 2 (warnings of a
    refused command are dropped: see mri_gan.notices)."""
    from mri_gan import notices
    from mri_gan.allocator import keep_freed_memory
    from mri_gan.quiet import import_tensorflow

    try:
        if getattr(args, "needs_tf", True):
            keep_freed_memory()
            import_tensorflow()
        with notices.held():
            return int(func(args) or 0)
    except UserError as err:
        sys.stderr.write(f"mri-gan: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("mri-gan: interrupted\n")
        return 130


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    return run(args.func, args)
