"""Writing a file or a folder all at once: into a hidden temporary beside it, renamed onto the
target when complete, removed when the writing fails.

A temporary is named ``.tmp-<host>-<pid>-<random>.<name>`` (``.old-...`` for an output moved
aside while it is replaced): hidden, never all digits (TF Serving takes any all-digit folder for
a model version), ending in the target's name (writers that go by the suffix, ``.nii.gz`` or
``.png``, see the right one). Each write first clears its folder of the temporaries whose writer
no longer runs on this machine (killed), putting back an output moved aside and never replaced.
Outputs get the modes the umask gives new files and folders (0644 / 0755 under umask 022), not
the private ones of ``tempfile``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from mri_gan.errors import UserError

#: this machine in temporaries' names (a pid says nothing of another machine's processes)
HOST = f"{zlib.crc32(socket.gethostname().encode()):08x}"
TEMPORARY = re.compile(r"\.(?P<kind>tmp|old)-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[a-z0-9_]{8}\.(?P<name>.+)")


def check(out, overwrite: bool = False, folder: bool = False) -> Path:
    """``out`` as a Path, once sure a write may take it: refused when it (or a folder above it)
    is a file where a folder is written or the reverse, and, unless ``overwrite``, when it
    exists (a folder: holds anything)."""
    out = Path(out)
    for above in out.parents:
        if above.exists():
            if not above.is_dir():
                raise UserError(above, "is a file, not a folder; choose another --out")
            break
    if not (out.exists() or out.is_symlink()):
        return out
    if folder and not out.is_dir():
        raise UserError(out, "is a file, not a folder; choose another --out")
    if not folder and out.is_dir():
        raise UserError(out, "is a folder, not a file; choose another --out")
    if not overwrite and not folder:
        raise UserError(out, "exists; pass --overwrite to replace it")
    if not overwrite and _holds_anything(out):
        raise UserError(out, "exists and is not empty; pass --overwrite to replace it")
    return out


def _holds_anything(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(True for _ in entries)
    except OSError as err:
        raise UserError(folder, f"cannot list this folder ({(err.strerror or str(err)).lower()})") from None


@contextlib.contextmanager
def atomic_file(out, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary file beside ``out`` (``check``-ed first) to write; it then takes
    ``out``'s place, or is removed on an exception, with the folders made for it."""
    out = check(out, overwrite)
    with _temporary(out, folder=False) as tmp:
        yield tmp
        _ready(tmp, out, overwrite, folder=False)
        os.replace(tmp, out)


@contextlib.contextmanager
def atomic_folder(out, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``out`` (``check``-ed first) to fill; it then takes
    ``out``'s place (an existing ``out`` moved aside first and removed after), or is removed on
    an exception, with the folders made for it."""
    out = check(out, overwrite, folder=True)
    with _temporary(out, folder=True) as tmp:
        yield tmp
        _ready(tmp, out, overwrite, folder=True)
        if not (out.exists() or out.is_symlink()):
            try:
                os.replace(tmp, out)
            except OSError as err:
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                raise UserError(out, "appeared while writing; nothing written") from None
            return
        aside = _reserve(out, "old", folder=True)
        os.replace(out, aside)
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(aside, out)
            raise
        shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def _temporary(out: Path, folder: bool) -> Iterator[Path]:
    """The temporary for ``out``, made (with any missing folder above it) once the stale ones
    are cleared; removed on an exception, with the folders made for it."""
    missing = [p for p in out.parents if not p.exists()]   # innermost first
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(out.parent, f"cannot create this folder ({(err.strerror or str(err)).lower()})") from None
    remove_stale(out.parent)
    tmp = _reserve(out, "tmp", folder)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        for made in missing:
            with contextlib.suppress(OSError):
                made.rmdir()
        raise


def _ready(tmp: Path, out: Path, overwrite: bool, folder: bool) -> None:
    """Before the rename: ``out`` checked again (it may have appeared meanwhile), the umask's mode."""
    try:
        check(out, overwrite, folder)
    except UserError:
        raise UserError(out, "appeared while writing; nothing written") from None
    os.chmod(tmp, (0o777 if folder else 0o666) & ~_umask())


def _reserve(out: Path, kind: str, folder: bool) -> Path:
    prefix, suffix = f".{kind}-{HOST}-{os.getpid()}-", f".{out.name}"
    if folder:
        return Path(tempfile.mkdtemp(suffix, prefix, out.parent))
    fd, name = tempfile.mkstemp(suffix, prefix, out.parent)
    os.close(fd)
    return Path(name)


def _umask() -> int:
    """This process's umask (read by setting it, then setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:   # another user's process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def remove_stale(folder) -> None:
    """Remove the temporaries in ``folder`` whose writer on this machine no longer runs; an
    output moved aside whose replacement never came is put back instead."""
    try:
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries]
    except OSError:
        return
    for name in names:
        match = TEMPORARY.fullmatch(name)
        if not match or match["host"] != HOST or _running(int(match["pid"])):
            continue
        path, target = Path(folder) / name, Path(folder) / match["name"]
        if match["kind"] == "old" and not (target.exists() or target.is_symlink()):
            with contextlib.suppress(OSError):
                os.replace(path, target)
        else:
            _remove(path)
