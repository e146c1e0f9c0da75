"""The shipped model: packing a run, loading it back, `fill` / `export` with it, and refusals.

Tests marked by ``shipped`` need the weights the package ships and skip where it holds none."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import nibabel as nib
import numpy as np
import pytest

from mri_gan import pretrained
from mri_gan.cli import main
from mri_gan.errors import UserError
from mri_gan.inference import load_task
from mri_gan.packing import package

shipped = pytest.mark.skipif(not pretrained.available(), reason="the package holds no shipped model "
                                                                 "(mri_gan/shipped/impute)")


@pytest.fixture(scope="module")
def packed(impute_run, tmp_path_factory):
    return package(impute_run, tmp_path_factory.mktemp("packed") / "impute")


def write_case(folder, sequences=("t1",), shape=(240, 240, 8), zooms=(0.9, 0.9, 3.0), name="case"):
    """A skull-stripped case (ellipsoid brain, smooth contrast), LPS, one NIfTI per sequence."""
    folder.mkdir(parents=True, exist_ok=True)
    i, j, k = np.meshgrid(*(np.linspace(-1, 1, n, dtype=np.float32) for n in shape), indexing="ij")
    brain = i ** 2 / 0.6 + j ** 2 / 0.75 + k ** 2 < 1.2
    affine = np.diag([-zooms[0], -zooms[1], zooms[2], 1.0])
    affine[:3, 3] = [100.0, 120.0, -20.0]
    paths = {}
    for n, seq in enumerate(sequences):
        volume = (300 + 150 * np.sin(5 * i + n) * np.cos(4 * j)) * brain
        paths[seq] = folder / f"{name}_{seq}.nii.gz"
        nib.save(nib.Nifti1Image(volume.astype(np.float32), affine), paths[seq])
    return paths


def test_pack_then_load_predicts_as_the_run(impute_run, packed):
    assert sorted(p.name for p in packed.iterdir()) == ["MODEL_CARD.md", "config.json", "generator.npz",
                                                        "model.json", "split.json"]
    assert not [p for p in packed.parent.iterdir() if p.name.startswith(".")]
    with np.load(packed / pretrained.WEIGHTS) as stored:
        assert {stored[k].dtype for k in stored.files} == {np.dtype(np.float16)}
    record = json.loads((packed / "model.json").read_text())["shipped"]
    assert record["version"] == 1 and record["run"] == "impute" and record["checkpoint"]["which"] == "best"
    card = (packed / pretrained.CARD).read_text()
    assert "$" not in card and "TODO" in card and "version 1" in card
    assert all(s in card for s in json.loads((impute_run / "split.json").read_text())["test"])
    run, loaded = load_task(impute_run), load_task(packed)
    assert loaded.checkpoint == str(packed / pretrained.WEIGHTS)
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (3, 32, 32, 4)).astype(np.float32)
    for target, available in (("flair", [True, False, True, False]), ("t1", [False, False, False, True])):
        np.testing.assert_allclose(loaded.translate(images, available, target),
                                   run.translate(images, available, target), atol=1e-2)


def test_pack_refuses_what_it_cannot_ship_and_replaces_only_when_told(impute_run, packed, tmp_path, capsys):
    translation = tmp_path / "t1-flair"
    translation.mkdir()
    config = json.loads((impute_run / "config.json").read_text())
    (translation / "config.json").write_text(json.dumps(dict(config, pix2pix=dict(config["pix2pix"], target="flair"))))
    shutil.copy(impute_run / "model.json", translation)
    with pytest.raises(UserError, match="config.json: a pix2pix --target flair run; .*imputation"):
        package(translation, tmp_path / "out")
    assert main(["pretrained", "pack", "--run", str(translation), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mri-gan: error:") and "config.json" in err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds no shipped model"):
        package(impute_run, tmp_path / "other", overwrite=True)
    assert not (tmp_path / "out").exists() and [p.name for p in (tmp_path / "other").iterdir()] == ["notes.txt"]

    copy = shutil.copytree(packed, tmp_path / "shipped")
    before = {p.name: p.stat().st_mtime_ns for p in copy.iterdir()}
    with pytest.raises(UserError, match="--overwrite"):
        package(impute_run, copy)
    assert {p.name: p.stat().st_mtime_ns for p in copy.iterdir()} == before
    package(impute_run, copy, overwrite=True)
    assert json.loads((copy / "model.json").read_text())["shipped"]["version"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_export_of_a_shipped_model_keeps_its_record(packed, tmp_path):
    from mri_gan.export import export_run

    folder = export_run(packed, tmp_path / "saved" / "impute")
    info = json.loads((folder / "assets" / "metadata.json").read_text())
    assert info["kind"] == "impute" and info["meta"]["shipped"]["version"] == 1


def test_fill_refusals_are_one_line_and_write_nothing(packed, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    t1 = write_case(tmp_path / "good", shape=(32, 32, 8))["t1"]
    t2_other = write_case(tmp_path / "other", ("t1", "t2"), shape=(32, 32, 9))["t2"]
    nan = write_case(tmp_path / "nan", ("t1", "t2"), shape=(32, 32, 8))["t2"]
    volume = np.asarray(nib.load(nan).dataobj)
    volume[3, 3, 3] = np.nan
    nib.save(nib.Nifti1Image(volume, nib.load(nan).affine), nan)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")

    def refused(*args, problem):
        assert main(["fill", *map(str, args), "--run", str(packed)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("mri-gan: error:") and problem in err, err
        assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    with pytest.raises(SystemExit) as stop:
        main(["fill", "--out", str(out)])
    assert stop.value.code == 2 and capsys.readouterr().err.count("\n") == 1
    refused(t1, t2_other, "--out", out, problem="shape 32x32x9 differs")
    refused(t1, nan, "--out", out, problem="NaN")
    refused(f"t3={t1}", "--out", out, problem="unknown sequence name 't3'")
    refused(t1, "--out", tmp_path / "full", problem="not empty")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    monkeypatch.setattr(pretrained, "FOLDER", tmp_path / "no-shipped-model")
    assert main(["fill", str(t1), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no shipped model" in err and not out.exists()


@shipped
def test_shipped_weights_load_in_a_fresh_process_without_network(tmp_path):
    keras_home = tmp_path / "keras"
    keras_home.mkdir()
    script = textwrap.dedent("""
        import json, socket
        import numpy as np

        def refuse(*args, **kwargs):
            raise OSError("network access attempted")

        socket.socket.connect = socket.create_connection = refuse
        from mri_gan.inference import load_task

        task = load_task()
        size = task.cfg.image_size
        yy, xx = np.mgrid[:size, :size] / size
        images = np.zeros((2, size, size, 4), np.float32)
        images[..., 0] = np.where((yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.15, 0.4 * np.sin(9 * xx), -1.0)
        out = task.translate(images, [True, False, False, False], "flair")
        print(json.dumps({"shape": list(out.shape), "finite": bool(np.isfinite(out).all()),
                          "version": task.meta["shipped"]["version"]}))
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KERAS_HOME": str(keras_home),
           "MRI_GAN_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["finite"] and result["shape"][0] == 2 and result["version"] >= 1
    assert {p.name for p in keras_home.iterdir()} <= {"keras.json"}   # Keras's settings; nothing downloaded


@shipped
def test_fill_with_the_shipped_model_keeps_the_geometry(tmp_path, capsys):
    t1 = write_case(tmp_path / "case")["t1"]
    out = tmp_path / "filled"
    assert main(["fill", str(t1), "--out", str(out), "--samples", "2"]) == 0
    reference = nib.load(t1)
    for seq in ("t1ce", "t2", "flair"):
        image, spread = nib.load(out / f"case_{seq}.nii.gz"), nib.load(out / f"case_{seq}_uncertainty.nii.gz")
        for img in (image, spread):
            assert img.shape == reference.shape == (240, 240, 8)
            np.testing.assert_allclose(img.affine, reference.affine, atol=1e-6)
            assert img.header.get_zooms() == reference.header.get_zooms()
        volume, sd = np.asarray(image.dataobj), np.asarray(spread.dataobj)
        assert np.isfinite(volume).all() and np.isfinite(sd).all() and sd.min() >= 0 and volume.any()
    assert (out / "qc.png").stat().st_size > 0
    record = json.loads((out / "fill.json").read_text())
    assert record["model"]["run"] == "pretrained" and record["model"]["shipped"]["version"] >= 1
    assert "wrote t1ce, t2, flair" in capsys.readouterr().out
