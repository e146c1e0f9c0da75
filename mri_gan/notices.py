"""Warnings for the user, one stderr line each: ``mri-gan: warning: <where>: <text>``.

The CLI holds them back while a command may still refuse its input (a refusal stays one line):
they are written once the command accepts it (``release``) or ends normally, and dropped with
a UserError. Outside ``held`` (library use) they are written at once.
"""

from __future__ import annotations

import contextlib
import sys

from mri_gan.errors import UserError

_held: list[str] | None = None


def warn(where, text: str) -> None:
    line = f"mri-gan: warning: {where}: {text}\n"
    if _held is None:
        sys.stderr.write(line)
    else:
        _held.append(line)


def release() -> None:
    """Write the warnings held so far (the input has been accepted)."""
    if _held:
        sys.stderr.write("".join(_held))
        _held.clear()


@contextlib.contextmanager
def held():
    """Hold warnings back until ``release`` or the end of the block; drop them on a UserError."""
    global _held
    previous, _held = _held, []
    try:
        yield
    except UserError:
        _held.clear()
        raise
    finally:
        release()
        _held = previous
