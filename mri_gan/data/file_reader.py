"""What the file-based readers share: listing a source's files, and bad files as skips or errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mri_gan import notices
from mri_gan.data.file_access import os_reason
from mri_gan.data.reader import Reader
from mri_gan.errors import UserError


def flag(value: str) -> bool:
    """Option type for yes/no options (1/0, true/false, yes/no)."""
    key = value.strip().lower()
    if key not in ("1", "0", "true", "false", "yes", "no"):
        raise ValueError(value)
    return key in ("1", "true", "yes")


flag.__name__ = "flag (1/0, true/false, yes/no)"


#: images with a side shorter than this are read, with a warning (they hold little to learn from)
MIN_SIDE = 32


class FileReader(Reader):
    """A reader over the files below ``path`` (or the one file ``path`` names)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bad_files: list[tuple[Path, str]] = []
        #: (file, rows, columns) of the images read below MIN_SIDE pixels
        self.small: list[tuple[Path, int, int]] = []

    @property
    def root(self) -> Path:
        """The folder that subject ids and relative names are taken from."""
        return self.path.parent if self.path.is_file() else self.path

    def files(self) -> list[Path]:
        """Every file of the source, sorted; hidden files and folders (``.name``) left out.

        Symbolic links that loop or point nowhere, and folders that cannot be listed, are bad
        files (``reject``); other entries that are not regular files (pipes, sockets) are ignored.
        Links to folders are not followed.
        """
        if self.path.is_file():
            return [self.path]
        found = []
        for folder, folders, names in os.walk(self.path, onerror=self._unlisted):
            folders[:] = [name for name in folders if not name.startswith(".")]
            found += [Path(folder, name) for name in names if not name.startswith(".")]
        modes = {}
        for file in sorted(found):
            try:
                modes[file] = file.stat().st_mode
            except OSError as err:
                self.reject(file, os_reason(err, file))
        files = [file for file, mode in modes.items() if stat.S_ISREG(mode)]
        self.ignore(len(modes) - len(files), "not a regular file")
        return files

    def _unlisted(self, err: OSError) -> None:
        self.reject(err.filename, f"cannot list this folder ({os_reason(err)})")

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

    def note_size(self, file, shape) -> None:
        """Remember an image (``shape``: rows, columns, ...) smaller than MIN_SIDE on a side."""
        if min(shape[:2]) < MIN_SIDE:
            self.small.append((Path(file), *shape[:2]))

    def require(self, count: int, what: str) -> None:
        """End of a pass: stop when it yielded nothing, saying why (naming the file when only one
        was bad); else warn once about the images below MIN_SIDE pixels (``notices``)."""
        if count:
            if self.small:
                file, rows, columns = self.small[0]
                more = f" (and {len(self.small) - 1} more image(s) of this source)" if len(self.small) > 1 else ""
                notices.warn(file, f"{columns}x{rows} pixels, below the {MIN_SIDE}-pixel minimum side an image "
                                   f"should have{more}; read all the same, and upscaled")
                self.small.clear()
            return
        if len(self.bad_files) == 1:
            raise UserError(*self.bad_files[0])
        why = "; ".join(f"{n} {reason}" for reason, n in self.skipped.most_common())
        raise UserError(self.path, f"no readable {what}" + (f" (skipped: {why})" if why else ""))
