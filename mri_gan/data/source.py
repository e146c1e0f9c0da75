"""Data source strings ``KIND:PATH[?key=value&...]`` and the reader interface.

One reader class per format (folder, numpy, brats, slices, dicom, phantom), all yielding
:class:`~mri_gan.data.records.Record`. ``open_source`` parses a source string, detects the
kind when it is omitted and returns the reader.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl

from mri_gan.data.file_access import access_problem
from mri_gan.data.records import Record
from mri_gan.errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}
NIFTI_SUFFIXES = (".nii", ".nii.gz")


class Reader:
    """Base of every reader: path, options, strictness and the count of skipped files."""

    kind = ""
    #: option name -> (type, default); unknown options are a user error
    OPTIONS: dict = {}

    def __init__(self, path: Path | None, options: dict[str, str] | None = None,
                 strict: bool = False, source: str = ""):
        self.path = path
        self.strict = strict
        self.source = source or (f"{self.kind}:{path}" if path else self.kind)
        self.skipped: Counter = Counter()
        self.options = self._parse_options(options or {})

    def _parse_options(self, raw: dict[str, str]) -> dict:
        parsed = {key: default for key, (_, default) in self.OPTIONS.items()}
        for key, value in raw.items():
            if key not in self.OPTIONS:
                known = ", ".join(sorted(self.OPTIONS)) or "none"
                raise UserError(self.source, f"unknown option {key!r} for {self.kind} (known: {known})")
            kind = self.OPTIONS[key][0]
            try:
                parsed[key] = kind(value)
            except ValueError:
                raise UserError(self.source, f"option {key}={value!r} is not a valid {kind.__name__}") from None
        return parsed

    def skip(self, file, reason: str) -> None:
        """Pass over an unreadable file, or stop under ``--strict``."""
        if self.strict:
            raise UserError(file, reason)
        self.skipped[reason] += 1

    def records(self) -> Iterator[Record]:
        raise NotImplementedError

    def preprocessing(self) -> dict | None:
        """What the reader does to 2-D slices, in ``preprocess.prepare_slices`` terms, for a run to
        record and synthesis to apply again; None where it is not of that form."""
        return None


def _readers() -> dict[str, type[Reader]]:
    from mri_gan.data.brats import BratsReader
    from mri_gan.data.dicom import DicomReader
    from mri_gan.data.folder import FolderReader
    from mri_gan.data.numpy_arrays import NumpyReader
    from mri_gan.data.phantom import PhantomReader
    from mri_gan.data.slices import SlicesReader

    return {cls.kind: cls for cls in (PhantomReader, FolderReader, NumpyReader, BratsReader,
                                      SlicesReader, DicomReader)}


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
    """Guess the kind of a path without a ``KIND:`` prefix."""
    if not path.exists():
        raise UserError(path, access_problem(path))
    if path.is_file():
        name = path.name.lower()
        if name.endswith((".npy", ".npz")):
            return "numpy"
        if name.endswith(NIFTI_SUFFIXES):
            return "brats"
        if name.endswith(".dcm"):
            return "dicom"
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return "folder"
        raise UserError(path, "cannot tell the data source kind of this file; prefix it with KIND:")
    if not os.access(path, os.R_OK | os.X_OK):
        raise UserError(path, "cannot list this folder (permission denied)")
    files = [p for p in path.rglob("*") if p.is_file()]
    names = [p.name.lower() for p in files]
    if any(n.endswith(NIFTI_SUFFIXES) for n in names):
        return "brats"
    if any(n.endswith(".dcm") for n in names):
        return "dicom"
    if any(n.endswith("_mask.png") or n.endswith("_mask.tif") for n in names):
        return "slices"
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in files):
        return "folder"
    if any(n.endswith((".npy", ".npz")) for n in names):
        return "numpy"
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
    return _readers()[kind](path, options, strict=strict, source=text)
