"""The reader interface: one ``Reader`` subclass per data source format, each yielding
:class:`~mri_gan.data.records.Record` and saying which paths it can read (``can_read``).
``mri_gan.data.source`` holds the registry of readers; readers never import it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

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

    @classmethod
    def can_read(cls, path: Path, files: list[Path]) -> bool:
        """Whether a path given without ``KIND:`` is of this kind; ``files`` are the files at
        ``path`` (the path itself for a file, every file below it for a folder)."""
        return False

    def records(self) -> Iterator[Record]:
        raise NotImplementedError

    def preprocessing(self) -> dict | None:
        """What the reader does to 2-D slices, in ``preprocess.prepare_slices`` terms, for a run to
        record and synthesis to apply again; None where it is not of that form."""
        return None
