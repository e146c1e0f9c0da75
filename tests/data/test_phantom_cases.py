"""`mri-gan data phantom`: phantom subjects as BraTS-named NIfTI cases, written all at once."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mri_gan.cli import main
from mri_gan.data.phantom import build_phantom
from mri_gan.data.source import open_source

SIZE = 32


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    out = tmp_path_factory.mktemp("cases") / "cases"
    assert main(["data", "phantom", "--out", str(out), "--subjects", "3", "--seed", "4", "--size", str(SIZE)]) == 0
    return out


def test_cases_have_brats_names_and_one_grid(cases):
    assert sorted(p.name for p in cases.iterdir()) == ["phantom-000", "phantom-001", "phantom-002"]
    for case in cases.iterdir():
        names = sorted(p.name for p in case.iterdir())
        assert names == sorted(f"{case.name}_{k}.nii.gz" for k in ("t1", "t1ce", "t2", "flair", "seg"))
        images = [nib.load(case / name) for name in names]
        assert len({img.shape for img in images}) == 1 and images[0].shape[:2] == (SIZE, SIZE)
        assert all(np.allclose(img.affine, images[0].affine) for img in images)
        seg = np.asarray(images[[n.endswith("_seg.nii.gz") for n in names].index(True)].dataobj)
        assert set(np.unique(seg).tolist()) <= {0, 1, 2, 4}


def test_case_i_is_subject_i_of_the_phantom_source(cases):
    drawn = build_phantom(3, seed=4, size=SIZE, slices=1, cache=False)
    for i, tumour in enumerate(drawn["subject_tumor"]):
        seg = np.asarray(nib.load(cases / f"phantom-{i:03d}" / f"phantom-{i:03d}_seg.nii.gz").dataobj)
        assert (seg > 0).any() == bool(tumour)


def test_the_brats_reader_reads_them(cases):
    subjects = {r.subject for r in open_source(f"brats:{cases}").records()}
    assert subjects == {"phantom-000", "phantom-001", "phantom-002"}


def test_a_folder_in_use_is_refused_and_kept_then_replaced_with_overwrite(cases, tmp_path, capsys):
    out = tmp_path / "used"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["data", "phantom", "--out", str(out), "--subjects", "1", "--size", str(SIZE)]) == 2
    err = capsys.readouterr().err.strip()
    assert "exists and is not empty" in err and "\n" not in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert main(["data", "phantom", "--out", str(out), "--subjects", "1", "--size", str(SIZE), "--overwrite"]) == 0
    assert [p.name for p in out.iterdir()] == ["phantom-000"]


@pytest.mark.parametrize("args,message", [(["--subjects", "0"], "--subjects: 0 is outside"),
                                          (["--size", "8"], "--size: 8 is outside")])
def test_bad_options_are_one_line_exit_2(tmp_path, capsys, args, message):
    assert main(["data", "phantom", "--out", str(tmp_path / "never"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not (tmp_path / "never").exists()
