"""Readers: exact counts on ../shared/data against its manifests, and every format on synthetic files."""

from __future__ import annotations

import csv
import os
from collections import Counter, defaultdict
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from make_data import LPS, SECRET_ID, SECRET_NAME, dicom_series, gray_u8, volume, write_image, write_nifti
from PIL import Image

from mri_gan.data import mask_cache, preprocess
from mri_gan.data.brats import axial_slices, find_case_files, load_case, load_volume, split_name, volume_from_axial
from mri_gan.data.inspect import lesion_brightness, summarize
from mri_gan.data.reader import IMAGE_SUFFIXES
from mri_gan.data.slice_set import SliceSet
from mri_gan.data.slices import copied_channels
from mri_gan.data.source import open_source
from mri_gan.errors import UserError


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def non_images(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file() and p.suffix.lower() not in IMAGE_SUFFIXES)


def check_record(rec) -> None:
    for image in rec.images.values():
        assert image.dtype == np.float32 and image.shape == rec.shape
        assert 0.0 <= image.min() and image.max() <= 1.0
    assert rec.brain_mask.dtype == bool and rec.brain_mask.shape == rec.shape
    assert rec.tumor_mask is None or (rec.tumor_mask.dtype == bool and rec.tumor_mask.shape == rec.shape)


# ---------------------------------------------------------------- real data, against the manifests

@pytest.mark.realdata
@pytest.mark.parametrize("name", ["brain_tumor_mri_4class", "brain_tumor_yes_no"])
def test_class_folders_match_manifest(real_data_dir, name):
    folder = real_data_dir / name
    manifest = read_csv(folder / "manifest.csv")
    summary = summarize(open_source(str(folder)))
    assert summary["kind"] == "folder"
    assert summary["labels"] == dict(Counter(row["label"] for row in manifest))
    assert summary["subjects"] == summary["slices"] == len(manifest)
    assert summary["sequences"] == {"t1": len(manifest)}
    assert summary["skipped"] == {"not an image": non_images(folder)}
    assert sum(summary["image_shapes"].values()) == len(manifest)


@pytest.mark.realdata
def test_folder_record_is_the_file(real_data_dir):
    folder = real_data_dir / "brain_tumor_yes_no"
    row = read_csv(folder / "manifest.csv")[0]
    rec = next(r for r in open_source(f"folder:{folder}").records()
               if r.subject == str(Path(row["file"]).with_suffix("")))
    check_record(rec)
    expected = np.asarray(Image.open(folder / row["file"]).convert("L"), np.float32) / 255
    assert rec.label == row["label"] and rec.slice_index == 0
    assert rec.images["t1"].shape == expected.shape
    assert np.abs(rec.images["t1"] - expected).mean() < 2 / 255   # JPEG decoders differ by rounding
    assert 0.05 < rec.brain_mask.mean() < 0.95


@pytest.fixture(scope="module")
def lgg(real_data_dir):
    """One pass over the LGG slices, keeping counts and two records."""
    reader = open_source(f"slices:{real_data_dir / 'lgg_mri_3contrast_slices'}")
    per_subject, sequences, labels, kept = Counter(), defaultdict(set), {}, {}
    for rec in reader.records():
        per_subject[rec.subject] += 1
        sequences[rec.subject].update(rec.images)
        labels[(rec.subject, rec.slice_index)] = rec.label
        if rec.label == "tumor" and rec.subject not in kept:
            kept[rec.subject] = rec
    return reader, per_subject, sequences, labels, kept


@pytest.mark.realdata
def test_lgg_counts_match_manifests(real_data_dir, lgg):
    reader, per_subject, sequences, labels, _ = lgg
    folder = real_data_dir / "lgg_mri_3contrast_slices"
    patients = read_csv(folder / "manifest_patients.csv")
    slices = read_csv(folder / "manifest_slices.csv")
    assert per_subject == {p["patient_folder"]: int(p["n_slices"]) for p in patients}
    assert len(labels) == len(slices)
    for row in slices:
        expected = "tumor" if row["has_tumor"] == "1" else "no_tumor"
        assert labels[(row["patient"], int(row["slice_index"]))] == expected
    expected_missing = {}
    for p in patients:
        lacking = [seq for seq, flag in (("t1", "precontrast_missing_replaced_by_flair"),
                                         ("t1ce", "postcontrast_missing_replaced_by_flair")) if p[flag] == "1"]
        if lacking:
            expected_missing[p["patient_folder"]] = lacking
    assert expected_missing, "the manifest flags one patient whose post-contrast channel is FLAIR"
    assert reader.missing == expected_missing
    for subject, have in sequences.items():
        assert have == {"t1", "t1ce", "flair"} - set(expected_missing.get(subject, []))


@pytest.mark.realdata
def test_lgg_channels_follow_rgb_order(real_data_dir, lgg):
    """OpenCV reads BGR: the records must follow the file's RGB order = (pre, FLAIR, post)."""
    _, _, _, _, kept = lgg
    normalised = next(r for s, r in kept.items() if len(r.images) == 3)
    check_record(normalised)
    folder = Path(normalised.source_file).parent
    rec = next(r for r in open_source(f"slices:{folder}?normalise=0&strip=0").records()
               if r.source_file == normalised.source_file)
    rgb = np.asarray(Image.open(rec.source_file).convert("RGB"), np.float32) / 255
    for channel, seq in enumerate(("t1", "flair", "t1ce")):
        np.testing.assert_allclose(rec.images[seq], rgb[..., channel], atol=1e-6)
        # inside the brain normalising is an increasing map of the stored values, outside it is 0
        brain = normalised.brain_mask
        order = np.argsort(rec.images[seq][brain], kind="stable")
        assert np.all(np.diff(normalised.images[seq][brain][order]) >= -1e-6)
        assert not normalised.images[seq][~brain].any()
    # the skull-stripped brain lies inside the head, and well inside it
    assert not (normalised.brain_mask & ~rec.brain_mask).any()
    assert 0.4 < normalised.brain_mask.sum() / rec.brain_mask.sum() < 0.95
    mask_file = rec.source_file.replace(".png", "_mask.png")
    np.testing.assert_array_equal(rec.tumor_mask, np.asarray(Image.open(mask_file)) > 127)
    # the enhancing rim shows in post-contrast only: inside the tumour post-contrast exceeds pre-contrast
    assert rec.images["t1ce"][rec.tumor_mask].mean() > rec.images["t1"][rec.tumor_mask].mean()


@pytest.fixture(scope="module")
def brats_real(real_data_dir):
    folder = real_data_dir / "brats_4contrast_volumes"
    reader = open_source(str(folder))
    per_case, sequences, first = Counter(), defaultdict(Counter), {}
    for rec in reader.records():
        per_case[rec.subject] += 1
        sequences[rec.subject].update(rec.images.keys())
        first.setdefault(rec.subject, rec)
    return folder, reader, per_case, sequences, first


@pytest.mark.realdata
def test_brats_matches_manifest(brats_real):
    folder, reader, per_case, sequences, first = brats_real
    manifest = read_csv(folder / "manifest.csv")
    cases = {row["case"] for row in manifest}
    assert reader.kind == "brats" and set(per_case) == cases and reader.missing == {}
    for case in cases:
        rows = [row for row in manifest if row["case"] == case]
        assert {row["modality"] for row in rows} == set(sequences[case]) == {"t1", "t1ce", "t2", "flair"}
        assert set(sequences[case].values()) == {per_case[case]}
        # kept slices: those whose brain (non-zero in any sequence) covers >= MIN_BRAIN_FRACTION
        union = sum((nib.load(folder / row["file"]).get_fdata() != 0) for row in rows) > 0
        shape = tuple(int(n) for n in rows[0]["shape"].split("x"))
        assert union.shape == shape
        assert per_case[case] == int((union.mean(axis=(0, 1)) >= preprocess.MIN_BRAIN_FRACTION).sum())
        rec = first[case]
        check_record(rec)
        assert rec.shape == (shape[1], shape[0]) and rec.label is None and rec.tumor_mask is None
        assert all(img[~rec.brain_mask].max() == 0 for img in rec.images.values())
        assert set(rec.extra["bounds"]) == {"t1", "t1ce", "t2", "flair"}


@pytest.mark.realdata
def test_brats_2023_names_give_the_same_slices(real_data_dir, brats_real, tmp_path):
    """Symlink one real case under BraTS 2023 names beside the other under 2020 names, in one folder."""
    folder, _, per_case, _, first = brats_real
    manifest = read_csv(folder / "manifest.csv")
    case_2023, case_2020 = sorted(per_case)
    names_2023 = {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f"}
    for row in manifest:
        if row["case"] == case_2023:
            name = f"{row['case']}-{names_2023[row['modality']]}.nii.gz"
        else:
            name = Path(row["file"]).name
        os.symlink(folder / row["file"], tmp_path / name)
    reader = open_source(f"brats:{tmp_path}")
    seen = Counter()
    for rec in reader.records():
        seen[rec.subject] += 1
        if rec.slice_index == first[rec.subject].slice_index:
            for seq, image in first[rec.subject].images.items():
                np.testing.assert_array_equal(rec.images[seq], image)
    assert seen == per_case
    assert find_case_files(tmp_path / f"{case_2023}-t2f.nii.gz") == {"flair": tmp_path / f"{case_2023}-t2f.nii.gz"}


# ---------------------------------------------------------------- NIfTI / BraTS on synthetic volumes

@pytest.mark.parametrize("name, case, seq", [
    ("BraTS20_Training_001_t1ce.nii.gz", "BraTS20_Training_001", "t1ce"),
    ("BraTS20_Training_001_flair.nii", "BraTS20_Training_001", "flair"),
    ("BraTS-GLI-00000-000-t1n.nii.gz", "BraTS-GLI-00000-000", "t1"),
    ("BraTS-GLI-00000-000-t2f.nii", "BraTS-GLI-00000-000", "flair"),
    ("case7-t2w.NII.GZ", "case7", "t2"),
    ("case7_T1C.nii.gz", "case7", "t1ce"),
    ("case7-seg.nii.gz", "case7", "seg"),
    ("t1n.nii.gz", "caseDir", "t1"),
])
def test_split_name(name, case, seq):
    assert split_name(Path("/data/caseDir") / name) == (case, seq)


def test_split_name_refuses_unknown_sequence():
    with pytest.raises(UserError, match="unknown sequence name 't5'"):
        split_name(Path("case_t5.nii.gz"))


def test_brats_both_namings_separators_and_suffixes(tmp_path):
    """2020 and 2023 names mixed in one folder, .nii and .nii.gz, a segmentation, a missing sequence."""
    seqs_a = {"t1": "t1", "t1ce": "t1ce", "t2": "t2", "flair": "flair"}
    seqs_b = {"t1": "t1n", "t1ce": "t1c", "flair": "t2f"}            # case B lacks t2
    for i, token in enumerate(seqs_a.values()):
        write_nifti(tmp_path / "caseA" / f"caseA_{token}.nii{'.gz' if i % 2 else ''}", volume(seed=i))
    for i, token in enumerate(seqs_b.values()):
        write_nifti(tmp_path / f"BraTS-GLI-00001-000-{token}.nii.gz", volume(seed=10 + i))
    seg = np.zeros((16, 16, 8), np.uint8)
    seg[6:10, 6:10, 3:5] = 2
    write_nifti(tmp_path / "BraTS-GLI-00001-000-seg.nii.gz", seg)
    (tmp_path / "notes.txt").write_text("not a volume")
    reader = open_source(str(tmp_path))
    records = list(reader.records())
    by_case = defaultdict(list)
    for rec in records:
        check_record(rec)
        by_case[rec.subject].append(rec)
    assert set(by_case) == {"caseA", "BraTS-GLI-00001-000"}
    assert {frozenset(r.images) for r in by_case["caseA"]} == {frozenset(seqs_a)}
    assert {frozenset(r.images) for r in by_case["BraTS-GLI-00001-000"]} == {frozenset(seqs_b)}
    assert reader.missing == {"BraTS-GLI-00001-000": ["t2"]}
    assert reader.skipped == {"not a NIfTI file": 1}
    assert all(r.label is None and r.tumor_mask is None for r in by_case["caseA"])
    labelled = {r.slice_index: r for r in by_case["BraTS-GLI-00001-000"]}
    assert {k for k, r in labelled.items() if r.label == "tumor"} == {3, 4}
    assert all(r.tumor_mask.sum() == 16 for r in labelled.values() if r.label == "tumor")
    assert find_case_files(tmp_path / "caseA") == {s: next((tmp_path / "caseA").glob(f"caseA_{s}.nii*"))
                                                   for s in seqs_a}
    assert set(find_case_files(tmp_path)) == set(seqs_b)           # the segmentation is not a sequence
    write_nifti(tmp_path / "other_t1.nii.gz", volume())
    with pytest.raises(UserError, match="holds 2 cases"):
        find_case_files(tmp_path)


def test_brats_drops_near_empty_slices(tmp_path):
    data = np.zeros((20, 20, 6), np.float32)
    data[2:18, 2:18, 1:5] = 50 + np.arange(4)           # slices 0 and 5 empty
    data[10, 10, 5] = 7                                  # one voxel: below MIN_BRAIN_FRACTION
    write_nifti(tmp_path / "c_t1.nii.gz", data)
    records = list(open_source(str(tmp_path / "c_t1.nii.gz")).records())
    assert [r.slice_index for r in records] == [1, 2, 3, 4]
    assert 1 / 400 < preprocess.MIN_BRAIN_FRACTION < 256 / 400


@pytest.mark.parametrize("codes", ["LPS", "RAS", "LAS", "PIR", "SRA"])
def test_axial_slices_orientation_and_inverse(codes):
    """Slices run inferior -> superior, anterior at the top, patient's right on the image left."""
    ornt = nib.orientations.axcodes2ornt(codes)
    affine = nib.orientations.inv_ornt_aff(nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt("RAS"), ornt), (6, 7, 8))
    assert "".join(nib.aff2axcodes(affine)) == codes
    ras = np.zeros((6, 7, 8), np.float32)
    ras[5, 6, 7] = 1.0                                   # right, anterior, superior corner
    stored = nib.orientations.apply_orientation(ras, nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt("RAS"), ornt))
    slices = axial_slices(stored, affine)
    assert slices.shape == (8, 7, 6) and slices[-1, 0, 0] == 1.0 and slices.sum() == 1.0
    np.testing.assert_array_equal(volume_from_axial(slices, affine), stored)


def test_load_volume_checks(tmp_path):
    good = write_nifti(tmp_path / "a_t1.nii.gz", volume())
    data, image = load_volume(good)
    assert data.dtype == np.float32 and data.shape == (16, 16, 8) and np.allclose(image.affine, LPS)
    squeezed, _ = load_volume(write_nifti(tmp_path / "b_t1.nii.gz", volume()[..., None]))
    assert squeezed.shape == (16, 16, 8)
    nan = volume()
    nan[3, 3, 3] = np.nan
    cases = {"not a 3-D volume": volume()[..., 0], "NaN or infinite": nan,
             "all voxels are zero": np.zeros((4, 4, 4), np.float32)}
    for problem, data in cases.items():
        path = write_nifti(tmp_path / f"bad_{len(problem)}_t1.nii.gz", data)
        with pytest.raises(UserError, match=problem) as err:
            load_volume(path)
        assert err.value.where == str(path)
    assert load_volume(path, allow_zero=True)[0].shape == (4, 4, 4)
    files = {"t1": good, "t2": write_nifti(tmp_path / "a_t2.nii.gz", volume()),
             "flair": write_nifti(tmp_path / "a_flair.nii.gz", volume((16, 16, 9)))}
    with pytest.raises(UserError, match="shape 16x16x9 differs") as err:
        load_case(files)
    assert err.value.where == str(files["flair"])
    del files["flair"]
    volumes, image = load_case(files)
    assert set(volumes) == {"t1", "t2"} and image.shape == (16, 16, 8)


def test_brats_skips_bad_volume_of_a_case_unless_strict(tmp_path):
    write_nifti(tmp_path / "c_t1.nii.gz", volume())
    write_nifti(tmp_path / "c_t2.nii.gz", volume())
    write_nifti(tmp_path / "c_flair.nii.gz", volume((16, 16, 9)))
    reader = open_source(str(tmp_path))
    assert {frozenset(r.images) for r in reader.records()} == {frozenset({"t1", "t2"})}
    assert list(reader.skipped.values()) == [1] and "differs" in next(iter(reader.skipped))
    assert reader.missing == {"c": ["t1ce", "flair"]}
    with pytest.raises(UserError) as err:
        list(open_source(str(tmp_path), strict=True).records())
    assert err.value.where == str(tmp_path / "c_flair.nii.gz")


# ---------------------------------------------------------------- folder

def test_folder_formats_labels_and_options(tmp_path):
    u8 = gray_u8((24, 40))
    write_image(tmp_path / "yes" / "a.JPG", u8)
    write_image(tmp_path / "yes" / "b.PnG", np.stack([u8] * 3, axis=2))
    write_image(tmp_path / "yes" / "deep" / "c.bmp", u8)
    write_image(tmp_path / "no" / "d.tiff", (u8.astype(np.uint16) * 257))
    write_image(tmp_path / "no" / "e.tif", u8.astype(np.float32) / 255 * 3.0)
    write_image(tmp_path / "no" / "f.png", np.dstack([u8, u8, u8, np.full_like(u8, 255)]))
    write_image(tmp_path / "root.jpeg", u8)
    (tmp_path / "manifest.csv").write_text("file,label\n")
    (tmp_path / "README.md").write_text("# notes\n")
    (tmp_path / ".hidden").mkdir()
    write_image(tmp_path / ".hidden" / "x.png", u8)
    reader = open_source(f"folder:{tmp_path}?sequence=FLAIR")
    records = {r.subject: r for r in reader.records()}
    assert set(records) == {"yes/a", "yes/b", "yes/deep/c", "no/d", "no/e", "no/f", "root"}
    assert {s: r.label for s, r in records.items()} == {
        "yes/a": "yes", "yes/b": "yes", "yes/deep/c": "yes", "no/d": "no", "no/e": "no", "no/f": "no",
        "root": None}
    assert reader.skipped == {"not an image": 2}
    for subject, rec in records.items():
        check_record(rec)
        assert set(rec.images) == {"flair"} and rec.shape == (24, 40)
        expected = u8 / (u8.max() if subject == "no/e" else 255)    # float pixels are min-max scaled
        tol = 0.03 if subject in ("yes/a", "root") else 1e-3             # JPEG is lossy
        assert np.abs(rec.images["flair"] - expected).max() < tol, subject


def test_folder_single_file_and_unknown_option(tmp_path):
    path = write_image(tmp_path / "one.png", gray_u8())
    for source in (f"folder:{path}", str(path)):    # an image file is a folder source of its own
        (rec,) = open_source(source).records()
        assert rec.subject == "one" and rec.label is None
    with pytest.raises(UserError, match="unknown option 'colour'"):
        open_source(f"folder:{tmp_path}?colour=1")
    with pytest.raises(UserError, match="unknown sequence name 't5'"):
        open_source(f"folder:{tmp_path}?sequence=t5")


def test_folder_skips_bad_files_unless_strict(tmp_path):
    write_image(tmp_path / "a" / "good.png", gray_u8())
    (tmp_path / "a" / "empty.png").write_bytes(b"")
    (tmp_path / "a" / "junk.jpg").write_bytes(b"not a jpeg at all")
    reader = open_source(str(tmp_path))
    assert [r.subject for r in reader.records()] == ["a/good"]
    assert reader.skipped == {"empty file (0 bytes)": 1,
                              "not a readable image (corrupt, truncated or unsupported format)": 1}
    with pytest.raises(UserError) as err:
        list(open_source(str(tmp_path), strict=True).records())
    assert err.value.where == str(tmp_path / "a" / "empty.png")


def test_mask_cache_reuses_and_recomputes(tmp_path, monkeypatch):
    monkeypatch.setenv("MRI_GAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mask_cache, "MIN_FILES", 2)
    files = [write_image(tmp_path / "src" / f"{i}.png", gray_u8(seed=i)) for i in range(3)]
    images = [np.asarray(Image.open(f), np.float32) / 255 for f in files]
    first = mask_cache.MaskCache(tmp_path / "src", "folder")
    masks = [first.get(f, im) for f, im in zip(files, images)]
    first.save()
    assert first.computed == 3 and first.file.is_file()
    second = mask_cache.MaskCache(tmp_path / "src", "folder")
    for f, im, m in zip(files, images, masks):
        np.testing.assert_array_equal(second.get(f, im), m)
    assert second.computed == 0
    write_image(files[1], 255 - gray_u8(seed=1))
    os.utime(files[1], ns=(1, 1))
    third = mask_cache.MaskCache(tmp_path / "src", "folder")
    for f, im in zip(files, images):
        third.get(f, im)
    assert third.computed == 1


# ---------------------------------------------------------------- numpy

def test_numpy_npz_with_labels_and_model_range(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (5, 16, 16)).astype(np.float32)
    np.savez(tmp_path / "samples.npz", images=images, labels=np.array([0, 1, 1, 0, 1]),
             label_names=np.array(["no_tumor", "tumor"]))
    records = list(open_source(str(tmp_path / "samples.npz")).records())
    assert [r.subject for r in records] == [f"samples/{i}" for i in range(5)]
    assert [r.label for r in records] == ["no_tumor", "tumor", "tumor", "no_tumor", "tumor"]
    for rec, image in zip(records, images):
        check_record(rec)
        np.testing.assert_allclose(rec.images["t1"], (image + 1) / 2, atol=1e-6)


def test_numpy_classwise_files_channels_and_rgb(tmp_path):
    rng = np.random.default_rng(1)
    stack = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "glioma.npy", stack[:, :, :, 0])
    np.save(tmp_path / "notumor.npy", stack[:2])
    reader = open_source(f"numpy:{tmp_path}")
    records = list(reader.records())
    assert Counter(r.label for r in records) == {"glioma": 4, "notumor": 2}
    rgb = [r for r in records if r.label == "notumor"][0].images["t1"]
    assert np.abs(rgb - (stack[0] @ [0.299, 0.587, 0.114]) / 255).max() < 1 / 255 + 1e-6
    np.save(tmp_path / "notumor.npy", stack)
    mapped = [r for r in open_source(f"numpy:{tmp_path}?channels=t1,t2,flair").records() if r.label == "notumor"]
    np.testing.assert_allclose(mapped[1].images["t2"], stack[1, ..., 1] / 255, atol=1e-6)
    with pytest.raises(UserError, match="1 channel"):
        list(open_source(f"numpy:{tmp_path / 'glioma.npy'}?channels=t1,t2,flair").records())


@pytest.mark.parametrize("array, problem", [
    (np.zeros((3, 8, 8), np.int16), "unsupported pixel type int16"),
    (np.full((3, 8, 8), 2.0, np.float32), "outside"),
    (np.full((3, 8, 8), np.inf, np.float32), "NaN or infinite"),
    (np.zeros((8, 8), np.uint8), "not images"),
    (np.array([{"a": 1}], dtype=object), "Python objects"),
])
def test_numpy_refuses(tmp_path, array, problem):
    path = tmp_path / "x.npy"
    np.save(path, array, allow_pickle=True)
    with pytest.raises(UserError, match=problem) as err:
        list(open_source(str(path)).records())
    assert err.value.where == str(path)


# ---------------------------------------------------------------- slices

def _slice_patient(folder: Path, n: int, copy_post: bool, seed: int) -> None:
    for k in range(1, n + 1):
        pre, flair, post = (gray_u8((24, 24), seed=seed * 10 + k + j) for j in range(3))
        if copy_post:
            post = flair
        write_image(folder / f"{folder.name}_{k}.png", np.dstack([pre, flair, post]))
        mask = np.zeros((24, 24), np.uint8)
        if k == 2:
            mask[8:12, 8:12] = 255
        write_image(folder / f"{folder.name}_{k}_mask.png", mask)


def test_slices_layout_copies_and_masks(tmp_path):
    _slice_patient(tmp_path / "P1", 3, copy_post=False, seed=1)
    _slice_patient(tmp_path / "P2", 2, copy_post=True, seed=2)
    (tmp_path / "data.csv").write_text("Patient\nP1\n")
    reader = open_source(str(tmp_path))
    assert reader.kind == "slices"
    records = list(reader.records())
    assert [(r.subject, r.slice_index) for r in records] == [("P1", 1), ("P1", 2), ("P1", 3), ("P2", 1), ("P2", 2)]
    assert reader.missing == {"P2": ["t1ce"]}
    assert [set(r.images) for r in records] == [{"t1", "flair", "t1ce"}] * 3 + [{"t1", "flair"}] * 2
    assert [r.label for r in records] == ["no_tumor", "tumor", "no_tumor", "no_tumor", "tumor"]
    assert records[1].tumor_mask.sum() == 16
    assert reader.skipped == {"not an image": 1}
    rgb = [np.asarray(Image.open(tmp_path / "P1" / f"P1_{k}.png").convert("RGB"), np.float32) / 255
           for k in (1, 2, 3)]
    raw = list(open_source(f"slices:{tmp_path}?normalise=0&strip=0").records())
    for channel, seq in enumerate(("t1", "flair", "t1ce")):
        np.testing.assert_allclose(raw[0].images[seq], rgb[0][..., channel], atol=1e-6)
        # default: the subject's p0.5 inside its masks maps to 0, the median to 0.35
        inside = np.concatenate([im[..., channel][r.brain_mask] for im, r in zip(rgb, records[:3])])
        lo, median = np.percentile(inside, [0.5, 50])
        hi = lo + (median - lo) / 0.35
        expected = np.clip((rgb[0][..., channel] - lo) / (hi - lo), 0, 1) * records[0].brain_mask
        np.testing.assert_allclose(records[0].images[seq], expected, atol=1e-5)
    remapped = list(open_source(f"slices:{tmp_path}?channels=t2,-,t1&masks=0&normalise=0&strip=0").records())
    assert set(remapped[0].images) == {"t2", "t1"} and remapped[0].label is None
    np.testing.assert_allclose(remapped[0].images["t2"], rgb[0][..., 0], atol=1e-6)


def test_robust_scale_anchors_the_median_so_a_lesion_leaves_normal_tissue_alone():
    rng = np.random.default_rng(0)
    brain = rng.normal(400.0, 40.0, (64, 64)).astype(np.float32)
    lesioned = brain.copy()
    lesioned[:8] = 1500.0                                   # 12 % of the brain, very bright
    plain, (lo, hi) = preprocess.robust_scale(brain)
    assert abs(np.median(plain) - preprocess.MEDIAN_LEVEL) < 1e-3 and plain.min() == 0
    with_lesion, _ = preprocess.robust_scale(lesioned)
    assert with_lesion[:8].min() == 1.0 and hi > brain.max()   # normal tissue is not clipped
    shift = np.abs(with_lesion[8:] - plain[8:]).mean()

    def by_percentiles(x):                                  # the p0.5 / p99.5 scale it replaced
        a, b = np.percentile(x, [0.5, 99.5])
        return np.clip((x - a) / (b - a), 0, 1)
    old_shift = np.abs(by_percentiles(lesioned)[8:] - by_percentiles(brain)[8:]).mean()
    assert shift < 0.03 and shift < old_shift / 5, (shift, old_shift)


def _head(size: int = 128, scalp: float = 0.6, brain: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """An axial head: bright scalp ring, dark skull ring, brain (and the brain's true mask)."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot((yy - size / 2) / 0.8, xx - size / 2) / (size / 2)
    image = np.where(r < 0.9, scalp, 0.0)
    image[r < 0.85] = 0.2                                  # skull
    inside = r < 0.8
    image[inside] = brain
    image[inside & (np.abs(xx - size / 2) < 4) & (np.abs(yy - size / 2) < 20)] = 0.1   # ventricles
    return image.astype(np.float32), inside


@pytest.mark.parametrize("scalp", [0.6, 1.0])
def test_brain_mask_stops_at_the_skull(scalp):
    image, inside = _head(scalp=scalp)
    brain = preprocess.stripped_mask(image)
    head = preprocess.head_mask(image)
    assert not (brain & ~head).any()
    iou = (brain & inside).sum() / (brain | inside).sum()
    assert iou > 0.93, iou
    assert not brain[image == scalp].any()                 # none of the scalp


def test_brain_mask_without_a_skull_takes_a_margin():
    """No dark ring (an already stripped image): the mask keeps the inside, minus a 4.5 % rim."""
    yy, xx = np.mgrid[:128, :128]
    disc = (np.hypot(yy - 64, xx - 64) < 50).astype(np.float32) * 0.8
    brain = preprocess.stripped_mask(disc)
    assert brain[64, 64] and not brain[64, 64 + 49]
    assert 0.75 < brain.sum() / (disc > 0).sum() < 0.95


def test_slices_strip_zeroes_outside_the_brain(tmp_path):
    image, inside = _head(size=64)
    for k in range(3):
        write_image(tmp_path / "P1" / f"P1_{k}.png", np.dstack([(image * 255).astype(np.uint8)] * 3))
    stripped = list(open_source(f"slices:{tmp_path}").records())
    head = list(open_source(f"slices:{tmp_path}?strip=0").records())
    for s, h in zip(stripped, head):
        assert (s.brain_mask & inside).sum() / (s.brain_mask | inside).sum() > 0.85
        assert not (s.brain_mask & ~h.brain_mask).any() and h.brain_mask.sum() > 1.2 * s.brain_mask.sum()
        assert not s.images["flair"][~s.brain_mask].any() and h.images["flair"][~s.brain_mask].any()


def test_copied_channels_keeps_flair():
    a, b = np.zeros((2, 4, 4)), np.ones((2, 4, 4))
    assert copied_channels(np.stack([a, b, b], -1), ["t1", "flair", "t1ce"]) == ["t1ce"]
    assert copied_channels(np.stack([b, b, a], -1), ["t1", "flair", "t1ce"]) == ["t1"]
    assert copied_channels(np.stack([a, b, b], -1), ["t1", "t2", "t1ce"]) == ["t1ce"]
    assert copied_channels(np.stack([a, b], -1), ["t1", "flair"]) == []


# ---------------------------------------------------------------- DICOM

def test_dicom_order_rescale_and_privacy(tmp_path):
    dicom_series(tmp_path / "series_a")
    dicom_series(tmp_path / "series_b" / "nested", zs=(0, 1, 2))
    reader = open_source(str(tmp_path))
    assert reader.kind == "dicom"
    records = list(reader.records())
    assert [(r.subject, r.slice_index) for r in records] == [
        ("series_a", k) for k in range(4)] + [("series_b/nested", k) for k in range(3)]
    series_a = [r for r in records if r.subject == "series_a"]
    brightness = [r.images["t1"][r.brain_mask].mean() for r in series_a]
    assert brightness == sorted(brightness)               # ordered by position, not by file name
    assert series_a[0].source_file.endswith("im3.dcm")
    lo, hi = series_a[0].extra["bounds"]["t1"]
    assert lo >= 2 * 10 - 10                               # slope 2, intercept -10 applied
    text = repr([(r.subject, r.label, r.source_file, r.extra) for r in records])
    assert SECRET_NAME not in text and SECRET_ID not in text and "SECRET" not in text
    hashed = list(open_source(f"dicom:{tmp_path}?anonymize=1").records())
    assert {r.subject for r in hashed}.isdisjoint({"series_a", "series_b/nested"})
    assert len({r.subject for r in hashed}) == 2


def test_dicom_without_pixel_data_is_skipped(tmp_path):
    dicom_series(tmp_path / "s")
    dicom_series(tmp_path / "s_nopix", with_pixels=False)
    reader = open_source(f"dicom:{tmp_path}")
    assert {r.subject for r in reader.records()} == {"s"}
    assert reader.skipped == {"DICOM without pixel data": 4}


# ---------------------------------------------------------------- robustness of the decoders

@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=300), cut=st.floats(0, 1))
def test_broken_files_never_crash_a_reader(tmp_path_factory, data, cut):
    """Random bytes and truncated real files: a record or a UserError naming the file, nothing else."""
    folder = tmp_path_factory.mktemp("broken")
    png = write_image(folder / "ok.png", gray_u8())
    nii = write_nifti(folder / "ok_t1.nii.gz", volume())
    for good, name in ((png, "x.png"), (nii, "x_t1.nii.gz"), (None, "x.dcm"), (None, "x.npy")):
        raw = good.read_bytes()[: int(cut * good.stat().st_size)] if good else data
        path = folder / name
        path.write_bytes(raw if good else data)
        try:
            for rec in open_source(str(path)).records():
                check_record(rec)
        except UserError as err:
            assert err.where == str(path)


def test_lesion_brightness_is_tumour_mean_over_brain_median():
    """Two subjects; t2 shows the tumour at 2x and 4x the brain median, t1 not at all, flair is
    missing in subject b; a subject without tumour pixels is left out of the mean."""
    n, size = 3, 8
    brain = np.zeros((n, size, size), bool)
    brain[:, 2:6, 2:6] = True
    tumor = np.zeros_like(brain)
    tumor[:2, 2:4, 2:4] = True
    images = np.full((n, size, size, 4), -1.0, np.float32)

    def level(v):  # [0, 1] -> [-1, 1]
        return 2 * v - 1

    images[..., 0][brain] = level(0.3)                 # t1: flat
    images[..., 2][brain] = level(0.2)                 # t2: tumour 0.4 (a) and 0.8 (b)
    images[0, 2:4, 2:4, 2], images[1, 2:4, 2:4, 2] = level(0.4), level(0.8)
    images[..., 3][brain] = level(0.25)
    images[0, 2:4, 2:4, 3] = level(0.5)                # flair: 2x in subject a only
    available = np.array([[1, 0, 1, 1], [1, 0, 1, 0], [1, 0, 1, 1]], bool)
    slices = SliceSet(images, available, np.full(n, -1), [], np.array(["a", "b", "c"]),
                      np.zeros(n, np.int32), brain, tumor, np.ones(n, bool), "test", "test")
    assert lesion_brightness(slices) == {"t1": 1.0, "t2": 3.0, "flair": 2.0}
    assert lesion_brightness(slices.subset(np.array([2]))) == {}
