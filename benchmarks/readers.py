"""Reader throughput (records/s, full passes over a source) and the phantom's build time.

Reads ../shared/data where present; the numpy and dicom readers run on copies made from it in
a temporary folder (the 4-class JPEGs as one .npz, one BraTS volume as a DICOM series). Caches
point to a fresh temporary folder, so "cold" is a first read (head masks computed, phantom
built) and "warm" a later one.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import rate_stats, report, timed, tiny

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _count(source: str) -> int:
    from mri_gan.data.source import open_source

    return sum(1 for _ in open_source(source).records())


def _measure(name: str, source: str, repeats: int = 3) -> None:
    start = time.perf_counter()
    n = _count(source)
    cold = time.perf_counter() - start
    seconds = timed(lambda: _count(source), repeats, warmup=0)
    report(f"readers/{name}", records=n, cold_records_per_s=n / cold,
           warm_records_per_s=rate_stats(seconds, n))


def _npz_from_folder(folder: Path, out: Path) -> Path:
    import cv2

    files = sorted(p for p in folder.rglob("*.jpg"))
    images = np.stack([cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (128, 128)) for p in files])
    np.savez(out, images=images, labels=np.array([p.parent.name for p in files]))
    return out


def _dicom_from_nifti(nifti: Path, folder: Path) -> Path:
    import nibabel as nib
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    volume = np.clip(np.asarray(nib.load(nifti).dataobj), 0, None).astype(np.uint16)
    series = generate_uid()
    folder.mkdir(parents=True)
    for k in range(volume.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MRImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID, ds.Modality = series, "MR"
        ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0, 0, float(k)]
        ds.Rows, ds.Columns = volume.shape[:2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = np.ascontiguousarray(volume[:, :, k].T).tobytes()
        ds.save_as(folder / f"{k:03d}.dcm", enforce_file_format=True)
    return folder


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MRI_GAN_CACHE"] = str(Path(tmp) / "cache")
        from mri_gan.data.source import open_source

        phantom = "phantom?subjects=2&size=32&slices=2" if tiny() else "phantom"
        start = time.perf_counter()
        n = sum(1 for _ in open_source(phantom).records())
        cold = time.perf_counter() - start
        start = time.perf_counter()
        sum(1 for _ in open_source(phantom).records())
        report("readers/phantom (2 subjects, 32 px)" if tiny() else "readers/phantom (default: 40 subjects, 128 px)",
               records=n, build_s=cold, cached_read_s=time.perf_counter() - start)
        if tiny():
            return
        if not SHARED.is_dir():
            report("readers", shared_data="absent: only the phantom was measured")
            return
        _measure("folder brain_tumor_mri_4class", f"folder:{SHARED / 'brain_tumor_mri_4class'}")
        _measure("folder brain_tumor_yes_no", f"folder:{SHARED / 'brain_tumor_yes_no'}")
        _measure("slices lgg_mri_3contrast_slices", f"slices:{SHARED / 'lgg_mri_3contrast_slices'}")
        _measure("brats brats_4contrast_volumes", f"brats:{SHARED / 'brats_4contrast_volumes'}", repeats=2)
        npz = _npz_from_folder(SHARED / "brain_tumor_mri_4class", Path(tmp) / "mri_4class_128.npz")
        _measure("numpy 4class as one .npz, 128 px", f"numpy:{npz}")
        t1 = SHARED / "brats_4contrast_volumes" / "TCGA-FG-6692" / "TCGA-FG-6692_t1.nii.gz"
        _measure("dicom one 155-slice series", f"dicom:{_dicom_from_nifti(t1, Path(tmp) / 'series')}")
