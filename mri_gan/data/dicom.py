"""``dicom``: DICOM series folders, read with pydicom; pixel data only.

A series is the DICOM files of one folder (``.dcm`` files, or any file with the ``DICM``
preamble); a folder holding several series gives ``<folder>#1``, ``<folder>#2``, ... Pixels get
the rescale slope / intercept, MONOCHROME1 is inverted, colour becomes luminance, multi-frame
files give one slice per frame. Slices are ordered by ImagePositionPatient along the slice
normal (else InstanceNumber, else file name). Each series is scaled with
``preprocess.robust_scale`` (p0.5 -> 0, median -> 0.35 over its non-zero pixels), the brain mask is
``preprocess.head_mask`` per slice, and slices whose mask covers less than
``preprocess.MIN_BRAIN_FRACTION`` (2 %) of the image are dropped as near-empty.

Privacy: no header value ever reaches an output. The subject id is the series folder's path
relative to PATH (``?anonymize=1``: a hash of it), never PatientName or PatientID; headers are
read only to decode and order pixels. Images go to ``?sequence=`` (default ``t1``).
"""

from __future__ import annotations

import contextlib
import hashlib
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom

from mri_gan.data import preprocess
from mri_gan.data.file_reader import FileReader, flag
from mri_gan.data.images import UnreadableFile, check_readable
from mri_gan.data.records import Record, canonical_sequence
from mri_gan.errors import UserError

#: groups (general, patient, relationship, image) that a real DICOM file holds some element of
_IMAGE_GROUPS = {0x0008, 0x0010, 0x0020, 0x0028}


def is_dicom(path: Path) -> bool:
    """A ``.dcm`` file, or a file with the DICOM preamble (``DICM`` at byte 128)."""
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _pixels(ds) -> np.ndarray:
    """Modality values of a dataset: (frames, rows, cols) float32."""
    if "PixelData" not in ds:
        raise UnreadableFile("DICOM without pixel data")
    try:
        pixels = np.asarray(ds.pixel_array, np.float32)
    except Exception:  # pydicom raises many kinds for undecodable pixel data
        raise UnreadableFile("cannot decode its pixel data (corrupt, or compressed without a "
                             "decoder)") from None
    if int(ds.get("SamplesPerPixel", 1)) > 1:
        pixels = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
    if pixels.ndim == 2:
        pixels = pixels[None]
    pixels = pixels * float(ds.get("RescaleSlope", 1) or 1) + float(ds.get("RescaleIntercept", 0) or 0)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        pixels = -pixels  # low values are bright; the per-series scaling makes this exact
    if not np.isfinite(pixels).all():
        raise UnreadableFile("pixel data contains NaN or infinite values")
    return pixels


@contextlib.contextmanager
def _quiet_pydicom():
    """pydicom warns about odd elements; any failure to parse becomes one skip reason."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except UnreadableFile:
            raise
        except Exception:  # whatever pydicom raises, the file is unreadable
            raise UnreadableFile("not a readable DICOM file") from None


def _position(ds) -> float | None:
    """Distance of a slice along its normal (ImagePositionPatient . row x column)."""
    try:
        orientation = np.array(ds.ImageOrientationPatient, float)
        position = np.array(ds.ImagePositionPatient, float)
    except (AttributeError, ValueError, TypeError):
        return None
    if orientation.shape != (6,) or position.shape != (3,):
        return None
    return float(position @ np.cross(orientation[:3], orientation[3:]))


class DicomReader(FileReader):
    kind = "dicom"
    OPTIONS = {"sequence": (str, "t1"), "anonymize": (flag, False)}

    @classmethod
    def can_read(cls, path: Path, files: list[Path]) -> bool:
        return any(f.name.lower().endswith(".dcm") for f in files)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sequence = canonical_sequence(self.options["sequence"], where=self.source)

    def _header(self, file: Path):
        """(series key, order key) of one file, from its header only."""
        check_readable(file)
        if file.stat().st_size == 0:
            raise UnreadableFile("empty file (0 bytes)")
        with _quiet_pydicom():
            ds = pydicom.dcmread(file, force=True, stop_before_pixels=True)
            if not any(tag.group in _IMAGE_GROUPS for tag in ds.keys()):
                raise UnreadableFile("not a readable DICOM file")
            position = _position(ds)
            number = ds.get("InstanceNumber")
            number = int(number) if number not in (None, "") else None
            series = str(ds.get("SeriesInstanceUID", ""))
        return series, (position is None, position or 0.0, number is None, number or 0, file.name)

    def _series(self) -> dict[str, list[Path]]:
        """Subject id -> its files in slice order."""
        files = self.files()
        dicoms = [f for f in files if is_dicom(f)]
        if not dicoms:
            raise UserError(self.path, "no DICOM files" + ("" if self.path.is_file()
                                                          else f" among {len(files)} file(s)"))
        self.ignore(len(files) - len(dicoms), "not a DICOM file")
        groups: dict[Path, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for file in dicoms:
            try:
                series, order = self._header(file)
            except UnreadableFile as err:
                self.reject(file, str(err))
                continue
            groups[file.parent][series].append((order, file))
        out = {}
        for folder in sorted(groups):
            rel = folder.relative_to(self.root).as_posix()
            name = folder.absolute().name if rel == "." else rel
            for n, series in enumerate(sorted(groups[folder]), 1):
                subject = name if len(groups[folder]) == 1 else f"{name}#{n}"
                if self.options["anonymize"]:
                    subject = hashlib.sha256(subject.encode()).hexdigest()[:12]
                out[subject] = [file for _, file in sorted(groups[folder][series])]
        return out

    def _frames(self, files: list[Path]) -> list[tuple[Path, np.ndarray]]:
        """(file, 2-D frame) of a series in order, frames of the most common size only."""
        frames = []
        for file in files:
            try:
                with _quiet_pydicom():
                    frames += [(file, frame) for frame in _pixels(pydicom.dcmread(file, force=True))]
            except UnreadableFile as err:
                self.reject(file, str(err))
        if not frames:
            return []
        common = Counter(frame.shape for _, frame in frames).most_common(1)[0][0]
        for file in dict.fromkeys(file for file, frame in frames if frame.shape != common):
            self.reject(file, f"image size differs from the rest of its series ({common[1]}x{common[0]})")
        return [(file, frame) for file, frame in frames if frame.shape == common]

    def records(self) -> Iterator[Record]:
        count = 0
        for subject, files in self._series().items():
            frames = self._frames(files)
            if not frames:
                continue
            self.note_size(frames[0][0], frames[0][1].shape)
            scaled, bounds = preprocess.robust_scale(np.stack([frame for _, frame in frames]))
            for k, (file, _) in enumerate(frames):
                brain = preprocess.head_mask(scaled[k])
                if brain.mean() < preprocess.MIN_BRAIN_FRACTION:
                    continue
                yield Record(subject=subject, slice_index=k, images={self.sequence: scaled[k]}, label=None,
                             brain_mask=brain, tumor_mask=None, source_file=str(file),
                             extra={"bounds": {self.sequence: bounds}})
                count += 1
        self.require(count, "slices")
