"""Why a file cannot be opened for reading, said in a few words before a reader tries; how much
a compressed file can hold."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: deflate (gzip, zip) inflates at most 1032-fold: n compressed bytes hold at most this many times n
MAX_DEFLATE_RATIO = 1032


def os_reason(err: OSError, path=None) -> str:
    """An OSError as a short reason ("permission denied", "a symbolic link loop", ...)."""
    if err.errno == errno.ELOOP:
        return "a symbolic link loop"
    if err.errno == errno.ENOENT and path is not None and Path(path).is_symlink():
        return "a broken symbolic link (its target does not exist)"
    return (err.strerror or type(err).__name__).lower()


def access_problem(path) -> str | None:
    """Why this process cannot read the regular file at ``path``; None when it can."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        return os_reason(err, path)
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "permission denied (this user may not read it)"
    return None
