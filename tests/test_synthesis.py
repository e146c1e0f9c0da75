"""Volume synthesis: NIfTI in -> NIfTI out with the input's geometry, 2-D folders, the CLI."""

import cv2
import nibabel as nib
import numpy as np
import pytest

from mri_gan.config import resolve
from mri_gan.data.phantom import write_phantom_case
from mri_gan.errors import UserError
from mri_gan.inference import load_task
from mri_gan.synthesis import Translator, parse_inputs, synthesize, task_translator
from mri_gan.training.trainer import Trainer


def copy_t1(images, available, target):
    """A stand-in network: the t1 channel as the prediction (geometry and scale checks)."""
    assert available[0]
    return images[..., 0]


IDENTITY = Translator(copy_t1, 128, "t1", "copy t1")


def check_volume(out, reference_file, inputs):
    ref = nib.load(reference_file)
    img = nib.load(out)
    vol = np.asarray(img.dataobj)
    assert vol.shape == ref.shape and vol.dtype == np.float32
    np.testing.assert_allclose(img.affine, ref.affine, atol=1e-6)
    assert nib.aff2axcodes(img.affine) == nib.aff2axcodes(ref.affine)
    assert img.header["descrip"].tobytes().startswith(b"mri_gan copy t1")
    background = np.all([np.asarray(nib.load(f).dataobj) == 0 for f in inputs], axis=0)
    assert background.any() and np.all(vol[background] == 0)
    # the copy lands where the t1 was: same orientation, same scale inside the brain
    t1 = np.asarray(ref.dataobj, np.float32)
    brain = ~background
    assert np.corrcoef(vol[brain], t1[brain])[0, 1] > 0.9
    lo, median = np.percentile(t1[brain], [0.5, 50])
    hi = lo + (median - lo) / 0.35
    assert lo - 1e-3 <= vol[brain].min() and vol[brain].max() <= hi + 1e-3
    return vol


@pytest.fixture(scope="module")
def phantom_case(tmp_path_factory):
    return write_phantom_case(tmp_path_factory.mktemp("cases"), seed=3, name="ph-003", size=64)


def test_phantom_case_round_trip(phantom_case, tmp_path):
    out = tmp_path / "flair.nii.gz"
    summary = synthesize([str(phantom_case)], "flair", IDENTITY, out)
    files = sorted(phantom_case.glob("ph-003_t*.nii.gz"))
    assert summary["ignored"] == ["flair"] and summary["reference"] == "t1"
    check_volume(out, phantom_case / "ph-003_t1.nii.gz", files + [phantom_case / "ph-003_flair.nii.gz"])
    assert [p.name for p in tmp_path.iterdir()] == ["flair.nii.gz"]   # no temporary left


def test_compare_scores_the_synthesis_and_each_input_copied(phantom_case, tmp_path):
    t1 = phantom_case / "ph-003_t1.nii.gz"
    out = tmp_path / "flair.nii.gz"
    summary = synthesize([str(phantom_case)], "flair", IDENTITY, out, compare=t1)
    figures = summary["compare"]["figures"]
    assert set(figures) == {"synthesized", "copy of t1", "copy of t1ce", "copy of t2", "real"}
    assert figures["copy of t1"]["ssim"] == pytest.approx(1.0) and figures["copy of t1"]["psnr"] == 100
    assert 0.9 < figures["synthesized"]["ssim"] < 1.0     # t1 through the model size and back
    assert figures["copy of t2"]["ssim"] < figures["synthesized"]["ssim"]
    real, t2 = figures["real"], figures["copy of t2"]   # the "real" target here is t1
    assert real["dark"] < 0.5 and real["dark_voxels"] > 0 and real["bright"] is None
    assert figures["copy of t1"]["dark"] == pytest.approx(real["dark"], abs=1e-3)
    assert t2["dark"] > 3 * real["dark"]                 # T1-dark CSF is bright in T2
    small = tmp_path / "small.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4)), small)
    with pytest.raises(UserError, match="shape 8x8x8 differs from the inputs'"):
        synthesize([str(phantom_case)], "flair", IDENTITY, tmp_path / "g.nii.gz", compare=small)
    reference, shifted = nib.load(t1), tmp_path / "shifted.nii.gz"
    affine = reference.affine.copy()
    affine[:3, 3] += 5.0                                  # same shape, moved 5 mm
    nib.save(nib.Nifti1Image(np.asarray(reference.dataobj), affine), shifted)
    with pytest.raises(UserError, match="affine differs"):
        synthesize([str(phantom_case)], "flair", IDENTITY, tmp_path / "g.nii.gz", compare=shifted)
    slices = tmp_path / "slices"
    slices.mkdir()
    cv2.imwrite(str(slices / "a.png"), np.full((32, 32), 128, np.uint8))
    with pytest.raises(UserError, match="volumes only"):
        synthesize([str(slices)], "flair", IDENTITY, tmp_path / "pngs", compare=t1)
    assert not (tmp_path / "g.nii.gz").exists() and not (tmp_path / "pngs").exists()


def test_reoriented_input_keeps_its_layout(phantom_case, tmp_path):
    """An RAS copy of the case (flipped arrays, matching affine) gives an RAS output that equals
    the LPS output flipped back."""
    ras = tmp_path / "ras"
    ras.mkdir()
    for f in phantom_case.glob("ph-003_*.nii.gz"):
        img = nib.load(f)
        nib.save(nib.as_closest_canonical(img), ras / f.name)
    a = synthesize([str(phantom_case / "ph-003_t1.nii.gz"), str(phantom_case / "ph-003_t2.nii.gz")],
                   "flair", IDENTITY, tmp_path / "lps.nii")
    b = synthesize([f"t1={ras / 'ph-003_t1.nii.gz'}", f"t2={ras / 'ph-003_t2.nii.gz'}"],
                   "flair", IDENTITY, tmp_path / "ras.nii.gz")
    assert a["inputs"] == b["inputs"] == ["t1", "t2"]
    lps_vol = nib.load(a["out"])
    ras_vol = nib.load(b["out"])
    assert nib.aff2axcodes(ras_vol.affine) == ("R", "A", "S")
    np.testing.assert_allclose(nib.as_closest_canonical(lps_vol).get_fdata(), ras_vol.get_fdata(), atol=1e-4)


def test_brats_case_round_trip(real_data_dir, tmp_path):
    case = real_data_dir / "brats_4contrast_volumes" / "TCGA-FG-6692"
    out = tmp_path / "flair.nii.gz"
    synthesize([str(case)], "flair", IDENTITY, out)
    files = sorted(case.glob("*.nii.gz"))
    vol = check_volume(out, case / "TCGA-FG-6692_t1.nii.gz", files)
    assert vol.shape == (240, 240, 155)


def test_input_forms(phantom_case, tmp_path):
    t1 = phantom_case / "ph-003_t1.nii.gz"
    anonymous = tmp_path / "scan.nii.gz"
    anonymous.write_bytes(t1.read_bytes())
    assert parse_inputs([str(anonymous)], "t1") == ("volume", {"t1": anonymous})
    with pytest.raises(UserError, match="names no sequence"):
        parse_inputs([str(anonymous)], None)
    assert parse_inputs([f"post={anonymous}", str(t1)], None) == ("volume", {"t1": t1, "t1ce": anonymous})
    with pytest.raises(UserError, match="a second t1"):
        parse_inputs([f"t1={anonymous}", str(t1)], None)
    with pytest.raises(UserError, match="no such file"):
        parse_inputs([str(tmp_path / "absent.nii.gz")], "t1")
    with pytest.raises(UserError, match=".nii or .nii.gz"):
        synthesize([str(t1)], "flair", IDENTITY, tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()


def test_slice_folders_to_pngs(tmp_path):
    rng = np.random.default_rng(0)
    for seq in ("t1", "t2"):
        (tmp_path / seq / "sub").mkdir(parents=True)
    yy, xx = np.mgrid[:90, :70]
    head = (yy - 45) ** 2 / 40 ** 2 + (xx - 35) ** 2 / 30 ** 2 < 1
    for name in ("a", "sub/b"):
        for seq in ("t1", "t2"):
            img = np.where(head, rng.integers(80, 250, head.shape), 0).astype(np.uint8)
            cv2.imwrite(str(tmp_path / seq / f"{name}.png"), img)
    summary = synthesize([f"t1={tmp_path / 't1'}", f"t2={tmp_path / 't2'}"], "flair", IDENTITY,
                         tmp_path / "out")
    assert summary["images"] == 2
    for name in ("a", "sub/b"):
        out = cv2.imread(str(tmp_path / "out" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert out.shape == (90, 70) and out.dtype == np.uint8
        assert out[~head].max() == 0 and out[head].mean() > 50
    with pytest.raises(UserError, match="not empty"):
        synthesize([f"t1={tmp_path / 't1'}"], "flair", IDENTITY, tmp_path / "out")


@pytest.fixture(scope="module")
def t1_flair_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "p2p"
    cfg = resolve("pix2pix", "smoke", "phantom?subjects=4&size=32&slices=2", {"steps": 2})
    Trainer(cfg, run, progress=False).fit()
    return run


def test_trained_run_synthesizes_and_checks_sources(t1_flair_run, phantom_case, tmp_path):
    translator = task_translator(load_task(t1_flair_run))
    assert translator.image_size == 32 and translator.default_sequence == "t1"
    out = tmp_path / "f.nii.gz"
    summary = synthesize([str(phantom_case)], "flair", translator, out)
    img = nib.load(out)
    assert img.shape == nib.load(phantom_case / "ph-003_t1.nii.gz").shape
    assert summary["slices"] > 0 and np.asarray(img.dataobj).any()
    assert summary["inputs"] == ["t1"] and summary["ignored"] == ["flair"]   # t1ce, t2 not read
    with pytest.raises(UserError, match="missing: t1"):
        synthesize([str(phantom_case / "ph-003_t2.nii.gz")], "flair", translator, tmp_path / "g.nii.gz")
    with pytest.raises(UserError, match="synthesizes flair"):
        synthesize([str(phantom_case)], "t2", translator, tmp_path / "g.nii.gz")
    assert not (tmp_path / "g.nii.gz").exists()


def test_cli(cli, t1_flair_run, phantom_case, tmp_path, capsys):
    out = tmp_path / "flair.nii.gz"
    proc = cli("synthesize", "--run", t1_flair_run, "--input", phantom_case, "--target", "flair",
               "--out", out, "--json", check=0)
    assert '"target": "flair"' in proc.stdout and out.is_file()
    from mri_gan.cli import main

    code = main(["synthesize", "--run", str(t1_flair_run), "--input", str(tmp_path / "nothing"),
                 "--target", "flair", "--out", str(tmp_path / "x.nii.gz")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert err.startswith("mri-gan: error: ") and "no such file" in err
    assert not (tmp_path / "x.nii.gz").exists()


def test_synthesize_from_files_feeds_the_model_what_training_read(real_data_dir, tmp_path):
    """One real LGG subject through the `slices` reader (skull strip, robust scale per subject)
    and as per-sequence PNG folders through `synthesize`: the model sees the same pixels."""
    from mri_gan.data import slice_set
    from mri_gan.data.images import read_rgb
    from mri_gan.data.records import SEQUENCES
    from mri_gan.synthesis import synthesize_slices

    subject = real_data_dir / "lgg_mri_3contrast_slices" / "TCGA_CS_4942_19970222"
    data, reader = slice_set.load(f"slices:{subject}", 64)
    assert reader.preprocessing() == {"normalisation": "robust", "mask": "stripped"}
    folders = {seq: tmp_path / seq for seq in ("t1", "flair", "t1ce")}   # the files' RGB order
    names = sorted(p for p in subject.glob("*.png") if not p.stem.endswith("_mask"))
    for path in names:
        pixels = read_rgb(path)
        for c, folder in enumerate(folders.values()):
            folder.mkdir(exist_ok=True)
            cv2.imwrite(str(folder / f"{path.stem}.png"), pixels[..., c])
    seen = {}

    def record(images, available, target):
        seen.setdefault("images", []).append(images.copy())
        return images[..., 0]

    def fed(preprocessing, out):
        seen.clear()
        translator = Translator(record, 64, None, "record", None, preprocessing)
        synthesize_slices(folders, "t2", translator, tmp_path / out)
        return np.concatenate(seen["images"])

    order = np.argsort([int(p.stem.rsplit("_", 1)[1]) for p in names])   # the reader's slice order
    channels = [SEQUENCES.index(s) for s in folders]
    expected = data.images[np.argsort(data.slice_index)][..., channels]
    got = fed(reader.preprocessing(), "out")[order][..., channels]
    assert len(got) == len(data) == len(names)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # what synthesize did before the run recorded its preprocessing (/ 255, head mask) differs
    assert np.abs(fed(None, "plain")[order][..., channels] - expected).mean() > 0.05
