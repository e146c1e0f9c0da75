"""What the file-based readers share: listing a source's files, and bad files as skips or errors."""

from __future__ import annotations

from pathlib import Path

from mri_gan.data.source import Reader
from mri_gan.errors import UserError


def flag(value: str) -> bool:
    """Option type for yes/no options (1/0, true/false, yes/no)."""
    key = value.strip().lower()
    if key not in ("1", "0", "true", "false", "yes", "no"):
        raise ValueError(value)
    return key in ("1", "true", "yes")


flag.__name__ = "flag (1/0, true/false, yes/no)"


class FileReader(Reader):
    """A reader over the files below ``path`` (or the one file ``path`` names)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bad_files: list[tuple[Path, str]] = []

    @property
    def root(self) -> Path:
        """The folder that subject ids and relative names are taken from."""
        return self.path.parent if self.path.is_file() else self.path

    def files(self) -> list[Path]:
        """Every file of the source, sorted; hidden files and folders (``.name``) left out."""
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.rglob("*")
                      if p.is_file() and not any(part.startswith(".")
                                                 for part in p.relative_to(self.path).parts))

    def reject(self, file, reason: str) -> None:
        """A bad file: an error when it is the whole source (or under --strict), else a counted skip."""
        if Path(file) == self.path:
            raise UserError(file, reason)
        self.skip(file, reason)
        self.bad_files.append((Path(file), reason))

    def ignore(self, count: int, reason: str) -> None:
        """Files that are not data (notes, tables): counted, never an error, not even under --strict."""
        if count:
            self.skipped[reason] += count

    def require(self, count: int, what: str) -> None:
        """Stop when a pass yielded nothing, saying why (naming the file when only one was bad)."""
        if count:
            return
        if len(self.bad_files) == 1:
            raise UserError(*self.bad_files[0])
        why = "; ".join(f"{n} {reason}" for reason, n in self.skipped.most_common())
        raise UserError(self.path, f"no readable {what}" + (f" (skipped: {why})" if why else ""))
