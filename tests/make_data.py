"""Small synthetic files in every format the readers take (shared by the reader tests)."""

from __future__ import annotations

from pathlib import Path

import cv2
import nibabel as nib
import numpy as np

#: header values that must never reach an output
SECRET_NAME, SECRET_ID = "SECRET^PATIENTNAME", "SECRETID4711"

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def head(shape=(32, 32), seed=0, value=0.8) -> np.ndarray:
    """A bright disc on black with some texture, float in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r = ((yy - shape[0] / 2) / (shape[0] * 0.38)) ** 2 + ((xx - shape[1] / 2) / (shape[1] * 0.38)) ** 2
    return np.where(r < 1, value - 0.2 * rng.random(shape), 0.0)


def write_image(path: Path, pixels: np.ndarray) -> Path:
    """Write pixels given in RGB order (or gray) with OpenCV, which stores BGR."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if pixels.ndim == 3 and pixels.shape[2] >= 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR if pixels.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(str(path), pixels), path
    return path


def gray_u8(shape=(32, 32), seed=0) -> np.ndarray:
    return np.round(head(shape, seed) * 255).astype(np.uint8)


def volume(shape=(16, 16, 8), seed=0) -> np.ndarray:
    """A skull-stripped-looking volume: a textured ellipsoid on an exact-zero background."""
    rng = np.random.default_rng(seed)
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    inside = sum(g ** 2 for g in grid) < 0.7
    return np.where(inside, 100 + 50 * rng.random(shape), 0).astype(np.float32)


def write_nifti(path: Path, data: np.ndarray, affine=LPS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data), affine), str(path))
    return path


def write_dicom(path: Path, pixels: np.ndarray | None, z: float, series_uid: str, number: int = 1,
                slope: float = 1.0, intercept: float = 0.0) -> Path:
    """One MR slice (uint16 pixels, or no pixel data when ``pixels`` is None) with patient headers."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.PatientName, ds.PatientID = SECRET_NAME, SECRET_ID
    ds.SeriesDescription = "SECRET series description"
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID, ds.Modality = series_uid, "MR"
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0, 0, float(z)]
    ds.InstanceNumber = number
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if pixels is not None:
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = pixels.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def dicom_series(folder: Path, zs=(3, 1, 2, 0), shape=(32, 32), with_pixels=True) -> list[Path]:
    """A series whose files are named out of slice order; slice at z has brightness rising with z."""
    from pydicom.uid import generate_uid

    uid = generate_uid()
    files = []
    for i, z in enumerate(zs):
        pixels = (head(shape, seed=i) * (200 + 40 * z) + 10).astype(np.uint16) if with_pixels else None
        files.append(write_dicom(folder / f"im{i}.dcm", pixels, z, uid, number=100 - i,
                                 slope=2.0, intercept=-10.0))
    return files
