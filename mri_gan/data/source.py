"""Data source strings ``KIND:PATH[?key=value&...]`` and the registry of readers.

One reader class per format (folder, numpy, brats, slices, dicom, phantom; see
``mri_gan.data.reader``). ``open_source`` parses a source string, asks the readers which can read
the path when the kind is omitted and returns the reader.
"""

from __future__ import annotations

import os
from pathlib import Path

from mri_gan.data.brats import BratsReader
from mri_gan.data.dicom import DicomReader
from mri_gan.data.file_access import access_problem
from mri_gan.data.folder import FolderReader
from mri_gan.data.numpy_arrays import NumpyReader
from mri_gan.data.phantom import PhantomReader
from mri_gan.data.reader import Reader
from mri_gan.data.slices import SlicesReader
from mri_gan.errors import UserError

#: the readers by kind; a path given without ``KIND:`` is read by the first that can read it
READERS: dict[str, type[Reader]] = {cls.kind: cls for cls in (PhantomReader, BratsReader, DicomReader, SlicesReader,
                                                               FolderReader, NumpyReader)}
KINDS = ("phantom", "folder", "numpy", "brats", "slices", "dicom")


def parse_source(text: str) -> tuple[str | None, str, dict[str, str]]:
    """Split ``KIND:PATH?k=v&...`` into (kind or None, path, options)."""
    body, _, query = text.partition("?")
    options: dict[str, str] = {}
    if query:
        for part in query.split("&"):
            key, eq, value = part.partition("=")
            if not key or not eq:
                raise UserError(text, f"malformed option {part!r} (expected key=value)")
            options[key] = value
        if len(options) != len(query.split("&")):
            raise UserError(text, "an option is given twice")
    kind, colon, rest = body.partition(":")
    if colon and (kind in KINDS or (kind.isidentifier() and len(kind) > 1 and not Path(body).exists())):
        if kind not in KINDS:
            raise UserError(text, f"unknown data source kind {kind!r} (known: {', '.join(KINDS)})")
        return kind, rest, options
    if body in KINDS:
        return body, "", options
    return None, body, options


def detect_kind(path: Path) -> str:
    """The kind of a path without a ``KIND:`` prefix: the first reader that can read it."""
    if not path.exists():
        raise UserError(path, access_problem(path))
    if path.is_file():
        files = [path]
    elif not os.access(path, os.R_OK | os.X_OK):
        raise UserError(path, "cannot list this folder (permission denied)")
    else:
        files = [p for p in path.rglob("*") if p.is_file()]
    for kind, reader in READERS.items():
        if reader.can_read(path, files):
            return kind
    if path.is_file():
        raise UserError(path, "cannot tell the data source kind of this file; prefix it with KIND:")
    raise UserError(path, "no images, NIfTI, DICOM or NumPy files found")


def open_source(text: str, strict: bool = False) -> Reader:
    """Parse a data source string and return its reader."""
    kind, path_text, options = parse_source(text)
    path = Path(path_text).expanduser() if path_text else None
    if kind is None:
        kind = detect_kind(path)
    if kind != "phantom":
        if path is None:
            raise UserError(text, f"a {kind} source needs a path ({kind}:PATH)")
        if not path.exists():
            raise UserError(path, access_problem(path))
    return READERS[kind](path, options, strict=strict, source=text)
