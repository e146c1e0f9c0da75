"""The embedded phantom: contrasts measured on its images, geometry, determinism, labels, cache."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mri_gan.data import phantom
from mri_gan.data.phantom import PhantomReader, build_phantom, phantom_volume, write_phantom_case
from mri_gan.data.records import NO_TUMOR, SEQUENCES, TUMOR
from mri_gan.data.source import parse_source
from mri_gan.errors import UserError

SIZE = 64
SMALL = dict(subjects=10, seed=3, size=SIZE, slices=4)


@pytest.fixture(autouse=True, scope="module")
def cache_dir(tmp_path_factory):
    """Every test caches into its own folder, never the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("cache")
        mp.setenv("MRI_GAN_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def tumour_volumes():
    return [phantom_volume(seed, tumor=True, size=SIZE) for seed in range(4)]


@pytest.fixture(scope="module")
def healthy_volume():
    """Finer voxels, so that regions of nearly pure CSF exist."""
    return phantom_volume(11, tumor=False, size=96)


@pytest.fixture(scope="module")
def slice_set():
    return build_phantom(**SMALL)


def region_mean(volume, sequence, tissue, fraction):
    region = volume["fractions"][tissue] > fraction
    assert region.sum() >= 10, f"too few {tissue} voxels to measure"
    return float(volume["images"][sequence][region].mean())


def ratio(volume, sequence, tissue, fraction=0.6):
    """Mean signal of voxels with more than ``fraction`` of ``tissue``, relative to white matter."""
    return region_mean(volume, sequence, tissue, fraction) / region_mean(volume, sequence, "wm", 0.8)


def test_flair_suppresses_csf_relative_to_t2(healthy_volume):
    flair, t2 = ratio(healthy_volume, "flair", "csf", 0.8), ratio(healthy_volume, "t2", "csf", 0.8)
    assert t2 > 2.0 and flair < 0.35
    assert flair < 0.15 * t2


def test_t1_white_matter_brighter_than_grey_and_csf_dark(healthy_volume):
    gm, csf = ratio(healthy_volume, "t1", "gm", 0.8), ratio(healthy_volume, "t1", "csf", 0.8)
    assert gm < 0.95
    assert csf < 0.8 * gm


def test_t2_csf_brightest_and_grey_above_white(healthy_volume):
    gm, csf = ratio(healthy_volume, "t2", "gm", 0.8), ratio(healthy_volume, "t2", "csf", 0.8)
    assert gm > 1.2
    assert csf > 1.5 * gm


def test_oedema_bright_in_flair_and_t2(tumour_volumes):
    for volume in tumour_volumes:
        assert ratio(volume, "flair", "oedema") > 1.4
        assert ratio(volume, "t2", "oedema") > 1.4
        assert ratio(volume, "t1", "oedema") < 1.1   # not bright on T1


def test_enhancing_rim_bright_only_in_t1ce(tumour_volumes):
    for volume in tumour_volumes:
        pre, post = ratio(volume, "t1", "enhancing"), ratio(volume, "t1ce", "enhancing")
        assert pre < 1.05
        assert post > 1.25 * pre
        # healthy tissue does not enhance: grey/white contrast is the same before and after
        assert ratio(volume, "t1ce", "gm") == pytest.approx(ratio(volume, "t1", "gm"), abs=0.05)


def test_geometry_is_identical_across_sequences(tumour_volumes, slice_set):
    volume = tumour_volumes[0]
    for sequence in SEQUENCES:   # the signal support is the brain mask in every sequence
        assert np.array_equal(volume["images"][sequence] > 0, volume["brain_mask"])
    for n in range(len(slice_set["images"])):
        outside = ~slice_set["brain_mask"][n]
        assert not slice_set["images"][n][:, outside].any()
    # edges coincide: the cross-correlation of T1 and T2 gradient maps peaks at zero shift
    k = int(np.argmax(volume["tumor_mask"].sum(axis=(0, 1))))
    grads = [np.hypot(*np.gradient(volume["images"][s][:, :, k])) for s in ("t1", "t2")]
    a, b = (g - g.mean() for g in grads)
    corr = np.real(np.fft.ifft2(np.fft.fft2(a) * np.conj(np.fft.fft2(b))))
    assert np.unravel_index(np.argmax(corr), corr.shape) == (0, 0)


def test_slices_match_the_subject_volume(slice_set):
    i = int(np.flatnonzero(slice_set["subject_tumor"])[0])
    volume = phantom_volume(int(slice_set["phantom_seed"][i]), tumor=True, size=SIZE)
    for n in np.flatnonzero(slice_set["subject"] == i):
        k = slice_set["slice_index"][n]
        assert np.array_equal(volume["brain_mask"][:, :, k].T, slice_set["brain_mask"][n])
        assert np.array_equal(volume["segmentation"][:, :, k].T, slice_set["segmentation"][n])


def test_deterministic_by_seed_and_different_across_seeds():
    a = phantom_volume(5, size=32)
    b = phantom_volume(5, size=32)
    c = phantom_volume(6, size=32)
    for s in SEQUENCES:
        assert np.array_equal(a["images"][s], b["images"][s])
        assert not np.array_equal(a["images"][s], c["images"][s])
    first = build_phantom(subjects=3, seed=1, size=32, slices=2, cache=False)
    again = build_phantom(subjects=3, seed=1, size=32, slices=2, cache=False)
    other = build_phantom(subjects=3, seed=2, size=32, slices=2, cache=False)
    assert np.array_equal(first["images"], again["images"])
    assert not np.array_equal(first["images"], other["images"])


def test_subjects_differ_in_anatomy(slice_set):
    """Deformations differ: two healthy subjects' brain masks at the same slice are not equal."""
    healthy = [phantom_volume(s, tumor=False, size=SIZE) for s in (20, 21)]
    k = healthy[0]["brain_mask"].shape[2] // 2
    overlap = (healthy[0]["brain_mask"][:, :, k] & healthy[1]["brain_mask"][:, :, k]).sum()
    union = (healthy[0]["brain_mask"][:, :, k] | healthy[1]["brain_mask"][:, :, k]).sum()
    assert 0.7 < overlap / union < 0.99


def test_about_half_the_subjects_carry_a_tumour(slice_set):
    assert slice_set["subject_tumor"].sum() == 5
    drawn = [phantom_volume(seed, size=32)["tumor"] for seed in range(20)]
    assert 5 <= sum(drawn) <= 15


def test_records_labels_and_masks():
    reader = PhantomReader(None, {key: str(value) for key, value in SMALL.items()})
    records = list(reader.records())
    assert len(records) == SMALL["subjects"] * SMALL["slices"]
    subjects = {r.subject for r in records}
    assert subjects == {f"phantom-{i:03d}" for i in range(SMALL["subjects"])}
    data = build_phantom(**SMALL)
    tumour_subjects = {f"phantom-{i:03d}" for i in np.flatnonzero(data["subject_tumor"])}
    for r in records:
        assert r.source_file == "phantom" and r.tumor_mask is not None
        assert set(r.images) == set(SEQUENCES)
        for image in r.images.values():
            assert image.dtype == np.float32 and image.shape == (SIZE, SIZE)
            assert 0.0 <= image.min() and image.max() <= 1.0
        assert r.brain_mask.shape == (SIZE, SIZE) and r.brain_mask.mean() > 0.05
        assert (r.label == TUMOR) == bool(r.tumor_mask.any())
        assert not (r.tumor_mask & ~r.brain_mask).any()
        if r.subject not in tumour_subjects:
            assert r.label == NO_TUMOR
    tumour_records = [r for r in records if r.subject in tumour_subjects]
    assert sum(r.label == TUMOR for r in tumour_records) >= 0.9 * len(tumour_records)


def test_cache_returns_identical_arrays(cache_dir):
    options = dict(subjects=2, seed=9, size=32, slices=3)
    fresh = build_phantom(**options, cache=False)
    (cache_dir / "phantom").mkdir(exist_ok=True)
    stale = cache_dir / "phantom" / "0123456789ab-0123456789ab.npz"   # an older code version's build
    stale.write_bytes(b"old")
    written = build_phantom(**options)
    assert not stale.exists()
    files = sorted((cache_dir / "phantom").glob("*.npz"))
    assert files and not list((cache_dir / "phantom").glob("*.tmp"))
    stamp = {f: f.stat().st_mtime_ns for f in files}
    cached = build_phantom(**options)
    assert {f: f.stat().st_mtime_ns for f in files} == stamp   # read, not rebuilt
    for key in fresh:
        assert np.array_equal(fresh[key], written[key]) and np.array_equal(fresh[key], cached[key])
        assert fresh[key].dtype == cached[key].dtype


def test_damaged_cache_is_rebuilt(cache_dir):
    options = dict(subjects=1, seed=4, size=32, slices=2)
    build_phantom(**options)
    path = phantom._cache_path(options)
    path.write_bytes(b"not a zip")
    again = build_phantom(**options)
    assert np.array_equal(again["images"], build_phantom(**options, cache=False)["images"])


def test_reader_options_are_checked():
    kind, path, options = parse_source("phantom?subjects=3&seed=2&size=32&slices=2")
    assert kind == "phantom" and path == ""
    reader = PhantomReader(None, options)
    assert reader.options == {"subjects": 3, "seed": 2, "size": 32, "slices": 2}
    assert reader.path is None and reader.kind == "phantom"
    with pytest.raises(UserError, match="unknown option 'colour'"):
        PhantomReader(None, {"colour": "red"})
    with pytest.raises(UserError, match="subjects=0"):
        PhantomReader(None, {"subjects": "0"})
    with pytest.raises(UserError, match="not a valid int"):
        PhantomReader(None, {"size": "big"})
    with pytest.raises(UserError, match="axial positions"):
        list(PhantomReader(None, {"size": "32", "slices": "200"}, source="phantom?slices=200").records())


def test_write_phantom_case(tmp_path):
    case = write_phantom_case(tmp_path, seed=2, name="case-x", size=32)
    names = sorted(p.name for p in case.iterdir())
    assert names == sorted(f"case-x_{s}.nii.gz" for s in (*SEQUENCES, "seg"))
    volume = phantom_volume(2, size=32)
    for s in SEQUENCES:
        image = nib.load(case / f"case-x_{s}.nii.gz")
        assert image.ndim == 3 and np.allclose(image.affine, volume["affine"])
        assert np.allclose(image.get_fdata(), volume["images"][s])
    assert nib.aff2axcodes(volume["affine"]) == ("L", "P", "S")
    seg = np.asarray(nib.load(case / "case-x_seg.nii.gz").dataobj)
    assert set(np.unique(seg)) <= {0, 1, 2, 4}
    assert np.array_equal(seg > 0, volume["tumor_mask"])
    assert write_phantom_case(tmp_path, seed=3, name="case-x", size=32) == case   # replaced in place
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
