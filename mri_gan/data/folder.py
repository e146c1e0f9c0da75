"""``folder``: class sub-folders of 2-D images (jpg, jpeg, png, tif, tiff, bmp; any case, size, gray/RGB).

The label is the first sub-folder under PATH (images directly in PATH are unlabelled). Each
image is its own subject, named by its path relative to PATH without suffix. RGB becomes
luminance; 8-bit pixels are divided by 255. Images go to one sequence, ``t1`` unless
``?sequence=`` says otherwise. Other files (CSV, Markdown) are ignored and counted as
"not an image". The brain mask is ``preprocess.head_mask`` (cached on disk, see mask_cache).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mri_gan.data.file_reader import FileReader
from mri_gan.data.images import UnreadableFile, read_gray
from mri_gan.data.mask_cache import MaskCache
from mri_gan.data.preprocess import PREPROCESSING_DEFAULT
from mri_gan.data.reader import IMAGE_SUFFIXES
from mri_gan.data.records import Record, canonical_sequence
from mri_gan.errors import UserError


class FolderReader(FileReader):
    kind = "folder"
    OPTIONS = {"sequence": (str, "t1")}

    @classmethod
    def can_read(cls, path: Path, files: list[Path]) -> bool:
        return any(f.suffix.lower() in IMAGE_SUFFIXES for f in files)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sequence = canonical_sequence(self.options["sequence"], where=self.source)

    def preprocessing(self) -> dict:
        return dict(PREPROCESSING_DEFAULT)

    def records(self) -> Iterator[Record]:
        files = self.files()
        images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            suffixes = ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
            raise UserError(self.path, f"no image files ({suffixes})" + (
                "" if self.path.is_file() else f" among {len(files)} file(s)"))
        self.ignore(len(files) - len(images), "not an image")
        masks = MaskCache(self.root, self.kind)
        count = 0
        for file in images:
            try:
                image = read_gray(file)
            except UnreadableFile as err:
                self.reject(file, str(err))
                continue
            self.note_size(file, image.shape)
            rel = file.relative_to(self.root)
            yield Record(subject=rel.with_suffix("").as_posix(), slice_index=0,
                         images={self.sequence: image},
                         label=rel.parts[0] if len(rel.parts) > 1 else None,
                         brain_mask=masks.get(file, image), tumor_mask=None, source_file=str(file))
            count += 1
        masks.save()
        self.require(count, "images")
