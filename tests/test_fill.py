"""`mri-gan fill`: every missing sequence of a case, uncertainty maps, QC picture and record."""

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from mri_gan.config import resolve
from mri_gan.data.phantom import write_phantom_case
from mri_gan.errors import UserError
from mri_gan.fill import fill
from mri_gan.inference import load_task
from mri_gan.synthesis import task_translator
from mri_gan.training.trainer import Trainer


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_phantom_case(tmp_path_factory.mktemp("cases"), seed=4, name="ph-004", size=48)


def partial(case, tmp_path, keep=("t1", "t2")):
    folder = tmp_path / "partial"
    folder.mkdir()
    for seq in keep:
        shutil.copy(case / f"ph-004_{seq}.nii.gz", folder)
    return folder


def test_fill_writes_every_missing_sequence_with_its_uncertainty(impute_run, case, tmp_path):
    out = tmp_path / "filled"
    record = fill([str(partial(case, tmp_path))], out, task_translator(load_task(impute_run)))
    assert record["given"] == ["t1", "t2"] and [e["sequence"] for e in record["synthesized"]] == ["t1ce", "flair"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["ph-004_t1ce.nii.gz", "ph-004_t1ce_uncertainty.nii.gz", "ph-004_flair.nii.gz",
         "ph-004_flair_uncertainty.nii.gz", "qc.png", "fill.json"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # no temporary left
    ref = nib.load(case / "ph-004_t1.nii.gz")
    brain = np.asarray(ref.dataobj) != 0
    for seq in ("t1ce", "flair"):
        img, sd = nib.load(out / f"ph-004_{seq}.nii.gz"), nib.load(out / f"ph-004_{seq}_uncertainty.nii.gz")
        vol, spread = np.asarray(img.dataobj), np.asarray(sd.dataobj)
        assert vol.shape == ref.shape and vol.dtype == np.float32 and spread.dtype == np.float32
        np.testing.assert_allclose(img.affine, ref.affine, atol=1e-6)
        assert img.header.get_zooms() == ref.header.get_zooms()
        assert b"t1+t2" in img.header["descrip"].tobytes()
        assert vol[brain].std() > 0 and spread.min() >= 0 and spread[brain].max() > 0
        assert not vol[~brain].any() and not spread[~brain].any()
    saved = json.loads((out / "fill.json").read_text())
    assert saved["samples"] == 8 and saved["model"]["name"] == "pix2pix impute"
    assert saved["synthesized"][0]["uncertainty"] == "ph-004_t1ce_uncertainty.nii.gz"
    assert all(e["seconds"] > 0 for e in saved["synthesized"])


def test_complete_case_writes_nothing_and_no_uncertainty_writes_none(impute_run, case, tmp_path):
    translator = task_translator(load_task(impute_run))
    record = fill([str(case)], tmp_path / "none", translator)
    assert record["synthesized"] == [] and "all four" in record["note"] and not (tmp_path / "none").exists()
    out = tmp_path / "plain"
    fill([str(partial(case, tmp_path, ("t1", "t1ce", "t2")))], out, translator, uncertainty=False)
    assert sorted(p.name for p in out.iterdir()) == ["fill.json", "ph-004_flair.nii.gz", "qc.png"]
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(UserError, match="not empty"):     # nothing already saved is overwritten
        fill([str(case / "ph-004_t1.nii.gz")], out, translator)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_translation_model_fills_its_target_or_names_what_it_lacks(case, tmp_path):
    run = tmp_path / "t1flair"
    Trainer(resolve("pix2pix", "smoke", "phantom?subjects=4&size=32&slices=2", {"steps": 1}), run,
            progress=False).fit()
    translator = task_translator(load_task(run))
    record = fill([str(partial(case, tmp_path, ("t1", "t2")))], tmp_path / "out", translator)
    assert [e["sequence"] for e in record["synthesized"]] == ["flair"]
    with pytest.raises(UserError, match="lacks t1"):
        fill([f"t2={case / 'ph-004_t2.nii.gz'}"], tmp_path / "out2", translator)
    assert not (tmp_path / "out2").exists()


def test_cli_bad_input_is_one_line_and_writes_nothing(cli, impute_run, case, tmp_path):
    out = tmp_path / "out"
    proc = cli("fill", tmp_path / "missing", "--run", impute_run, "--out", out)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr
    (tmp_path / "empty_t1.nii.gz").write_bytes(b"")
    proc = cli("fill", tmp_path / "empty_t1.nii.gz", case / "ph-004_t2.nii.gz", "--run", impute_run, "--out", out)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("mri-gan: error:") and "empty" in proc.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    proc = cli("fill", case / "ph-004_t1.nii.gz", case / "ph-004_flair.nii.gz", "--run", impute_run,
               "--out", out, "--samples", "2", "--json", check=0)
    assert json.loads(proc.stdout)["samples"] == 2 and (out / "ph-004_t2_uncertainty.nii.gz").is_file()


def test_qc_rows_have_true_titles_and_each_a_colour_scale(impute_run, case, tmp_path, monkeypatch):
    import mri_gan.fill as fill_module

    drawn = []
    monkeypatch.setattr(fill_module, "qc_picture", lambda rows, centre, path: drawn.append((rows, centre)))
    translator = task_translator(load_task(impute_run))
    fill([str(partial(case, tmp_path, ("t1", "t2", "flair")))], tmp_path / "out", translator, samples=3)
    rows, centre = drawn[0]
    assert [r.title for r in rows] == ["t1 (given)", "t2 (given)", "flair (given)", "t1ce (synthesized)",
                                       "t1ce uncertainty (sd)"]
    assert rows[-1].scale == "sd of 3 draws (t1's units)" and rows[-1].cmap != "gray"
    fig = fill_module.qc_figure(rows, centre)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert [b.get_ylabel() for b in bars] == [r.scale for r in rows]
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 3 * len(rows) and panels[-3].get_title() == "t1ce uncertainty (sd): axial"
    spread = rows[-1].volume
    shown = panels[-3].get_images()[0]
    np.testing.assert_array_equal(shown.get_array(), spread[centre[0]])
    assert shown.get_clim() == (0.0, pytest.approx(np.percentile(spread[spread > 0], 99.5)))
