"""A corpus of bad inputs to `data inspect`, `data preview`, `train` and every command that writes
an output: each is refused with exit code 2 and one stderr line naming the file or option, and
leaves the disk as it was.

Everything runs in this process (cli_checks.run_cli). The tests run as root here, for whom
chmod 000 does not stop reads: ``as_owner`` makes ``os.access`` and ``os.scandir`` answer as
they would for the files' owner without root, which is what the readers check before opening.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import json
import os
import stat
import struct
import zipfile
import zlib

import nibabel as nib
import numpy as np
import pytest
from cli_checks import assert_one_line_error, disk_state, run_cli
from make_data import dicom_series, gray_u8, volume, write_image, write_nifti
from test_bad_inputs import CASES, SOURCE_CASES

from mri_gan.config import resolve
from mri_gan.training.trainer import Trainer

# ------------------------------------------------------------------------------ bad files

def png_bomb(path, width=100_000, height=100_000):
    """A valid PNG of a few bytes whose header claims width x height pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    return path


def jpeg_bomb(path):
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 65535, 65535, 1) + b"\x01\x11\x00"
    path.write_bytes(b"\xff\xd8" + app0 + sof0 + b"\xff\xd9")
    return path


def bmp_bomb(path):
    path.write_bytes(b"BM" + struct.pack("<IHHIIiiHHII", 1000, 0, 0, 54, 40, 100_000, -100_000, 1, 24, 0, 0)
                     + b"\0" * 16)
    return path


def tiff_bomb(path):
    entries = struct.pack("<HHII", 256, 4, 1, 100_000) + struct.pack("<HHII", 257, 4, 1, 100_000)
    path.write_bytes(b"II*\0" + struct.pack("<IH", 8, 2) + entries + b"\0" * 4)
    return path


def nifti_claiming(path, shape, data_bytes=1024):
    """A NIfTI file whose header claims ``shape`` float32 voxels followed by ``data_bytes`` bytes."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.float32)
    header["vox_offset"] = 352
    data = header.binaryblock + b"\0" * 4 + b"\0" * data_bytes
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def npy_claiming(path, shape, data_bytes=1000):
    """An .npy file (or an .npz holding one as ``images``) whose header claims ``shape`` uint8."""
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": "|u1", "fortran_order": False, "shape": shape})
    data = stream.getvalue() + b"\0" * data_bytes
    if path.suffix == ".npz":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("images.npy", data)
    else:
        path.write_bytes(data)
    return path


def unreadable(path):
    path.chmod(0)
    return path


def renamed(path, name):
    return path.rename(path.with_name(name))


def folder_with(t, bad):
    """A folder of one good image and the bad file that ``bad(folder)`` makes (named in the error)."""
    write_image(t / "set" / "good.png", gray_u8())
    return bad(t / "set")


def symlink(path, target):
    path.symlink_to(target)
    return path


def unlistable_folder(folder):
    write_image(folder / "locked" / "a.png", gray_u8())
    (folder / "locked").chmod(0)
    return folder / "locked"


# name -> (make(t) -> (source, path named in the error, extra args), problem)
BAD_SOURCES = {
    "PNG header claiming 100000 x 100000": (lambda t: _alone(png_bomb(t / "bomb.png")),
                                            "claims 100000x100000 pixels"),
    "JPEG header claiming 65535 x 65535": (lambda t: _alone(jpeg_bomb(t / "bomb.jpg")), "claims 65535x65535 pixels"),
    "BMP header claiming 100000 x 100000": (lambda t: _alone(bmp_bomb(t / "bomb.bmp")),
                                            "claims 100000x100000 pixels"),
    "TIFF header claiming 100000 x 100000": (lambda t: _alone(tiff_bomb(t / "bomb.tif")),
                                             "claims 100000x100000 pixels"),
    "PNG bomb in a folder, strict": (lambda t: _strict(folder_with(t, lambda f: png_bomb(f / "bomb.png"))),
                                     "claims 100000x100000 pixels"),
    "NIfTI header claiming 2048^3": (lambda t: _alone(nifti_claiming(t / "x_t1.nii", (2048,) * 3)),
                                     "claims 2048x2048x2048 voxels, more than the 134217728"),
    "NIfTI.gz header claiming 2048^3": (lambda t: _alone(nifti_claiming(t / "x_t1.nii.gz", (2048,) * 3)),
                                        "claims 2048x2048x2048 voxels, more than the 134217728"),
    "NIfTI header claiming more than the file": (
        lambda t: _alone(nifti_claiming(t / "x_t1.nii", (64,) * 3)),
        "claims 64x64x64 voxels (1048928 bytes with the header); the file has 1376 (truncated)"),
    "NIfTI.gz header claiming more than deflate holds": (
        lambda t: _alone(nifti_claiming(t / "x_t1.nii.gz", (500, 500, 500))), "compressed bytes can hold"),
    "NumPy header claiming 10^13 bytes": (lambda t: _alone(npy_claiming(t / "x.npy", (10 ** 5, 10 ** 4, 10 ** 4))),
                                          "claims a 100000x10000x10000 uint8 array (10000000000000 bytes), more "
                                          "than the 4294967296"),
    "NumPy .npz member claiming 10^13 bytes": (
        lambda t: _alone(npy_claiming(t / "x.npz", (10 ** 5, 10 ** 4, 10 ** 4))), "images: its header claims"),
    "NumPy header claiming more than the file": (lambda t: _alone(npy_claiming(t / "x.npy", (100, 64, 64))),
                                                 "(409600 bytes); only 1000 bytes follow it (truncated)"),
    "plain NIfTI named .nii.gz": (lambda t: _alone(renamed(write_nifti(t / "x_t1.nii", volume()), "x_t1.nii.gz")),
                                  "an uncompressed NIfTI file named .nii.gz: rename it .nii"),
    "gzip NIfTI named .nii": (lambda t: _alone(renamed(write_nifti(t / "x_t1.nii.gz", volume()), "x_t1.nii")),
                              "a gzip-compressed file named .nii: rename it .nii.gz"),
    "text named .nii.gz": (lambda t: _alone(_text(t / "x_t1.nii.gz")), "not gzip-compressed"),
    "unreadable image": (lambda t: _alone(unreadable(write_image(t / "a.png", gray_u8()))), "permission denied"),
    "unreadable image in a folder, strict": (
        lambda t: _strict(folder_with(t, lambda f: unreadable(write_image(f / "b.png", gray_u8())))),
        "permission denied"),
    "unreadable NIfTI": (lambda t: _alone(unreadable(write_nifti(t / "x_t1.nii.gz", volume()))), "permission denied"),
    "unreadable NIfTI in a case, strict": (lambda t: _strict(_case_with_unreadable(t)), "permission denied"),
    "unreadable NumPy file": (lambda t: _alone(unreadable(_npy(t / "x.npy"))), "permission denied"),
    "unreadable DICOM file": (lambda t: _alone(unreadable(dicom_series(t / "s", zs=(0,))[0])), "permission denied"),
    "looping symbolic link given": (lambda t: _alone(symlink(t / "a.png", t / "a.png"), "folder:"),
                                    "a symbolic link loop"),
    "looping symbolic link in a folder, strict": (
        lambda t: _strict(folder_with(t, lambda f: symlink(f / "loop.png", f / "loop.png"))), "a symbolic link loop"),
    "broken symbolic link in a folder, strict": (
        lambda t: _strict(folder_with(t, lambda f: symlink(f / "gone.png", f / "nothing.png"))),
        "a broken symbolic link"),
    "unlistable sub-folder, strict": (lambda t: _strict(folder_with(t, unlistable_folder)),
                                      "cannot list this folder (permission denied)"),
    "unlistable folder": (lambda t: _alone(unlistable_folder(t)), "cannot list this folder (permission denied)"),
}


def _alone(path, kind=""):
    return f"{kind}{path}", path, []


def _strict(bad):
    return str(bad.parent), bad, ["--strict"]


def _text(path):
    path.write_text("not a volume\n")
    return path


def _npy(path):
    np.save(path, gray_u8()[None])
    return path


def _case_with_unreadable(t):
    write_nifti(t / "case" / "case_t1.nii.gz", volume())
    return unreadable(write_nifti(t / "case" / "case_flair.nii.gz", volume()))


# ------------------------------------------------------------------------------ train

def _brats(t, sequences=("t1",), cases=4):
    for k in range(cases):
        for seq in sequences:
            write_nifti(t / "brats" / f"c{k}" / f"c{k}_{seq}.nii.gz", volume(seed=k))
    return t / "brats"


def _saved_run(t):
    """A run folder whose config.json is that of `train --model dcgan --preset smoke --data DATA`."""
    data = str(_brats(t))
    (t / "run").mkdir()
    resolve("dcgan", "smoke", data).save(t / "run" / "config.json")
    return data


def _tiny_images(t):
    for k in range(4):
        write_image(t / "tiny" / f"{k}.png", gray_u8((8, 8), seed=k))
    return t / "tiny"


def _damaged_run(t):
    """A trained smoke run of `train --model dcgan --data DATA` whose every checkpoint is cut short."""
    data = str(_brats(t))
    Trainer(resolve("dcgan", "smoke", data), t / "run", progress=False).fit()
    for part in (t / "run" / "checkpoints").glob("ckpt-*.data-*"):
        part.write_bytes(part.read_bytes()[:100])
    return data


def _nan_volume(t):
    v = volume()
    v[3, 3, 3] = np.nan
    return write_nifti(t / "nan_t1.nii.gz", v)


# name -> (make(t) -> (train arguments without --preset / --out / --no-progress, named), problem)
TRAIN = {
    "--out is a file": (lambda t: (["--model", "dcgan", "--data", _brats(t)], _touch(t / "run")),
                        "is a file, not a folder"),
    "--out below a file": (lambda t: (["--model", "dcgan", "--data", _brats(t)], _touch(t / "run")),
                           "is a file, not a folder"),
    "--source and --target the same": (
        lambda t: (["--model", "pix2pix", "--data", _brats(t), "--source", "t1", "--target", "t1"], "--target"),
        "t1 is also a source"),
    "refused after a warning (tiny images)": (
        lambda t: (["--model", "pix2pix", "--data", _tiny_images(t), "--source", "t1", "--target", "t1"], "--target"),
        "t1 is also a source"),
    "unknown --source": (lambda t: (["--model", "pix2pix", "--data", _brats(t), "--source", "t5"], "--source"),
                         "unknown sequence name 't5'"),
    "missing --data": (lambda t: (["--model", "dcgan", "--data", t / "nope"], t / "nope"),
                       "no such file or directory"),
    "NaN volume as --data": (lambda t: (["--model", "dcgan", "--data", _nan_volume(t)], t / "nan_t1.nii.gz"),
                             "contains NaN or infinite voxels"),
    "PNG bomb as --data": (lambda t: (["--model", "dcgan", "--data", png_bomb(t / "b.png")], t / "b.png"),
                           "claims 100000x100000 pixels"),
    "unreadable --data": (lambda t: (["--model", "dcgan", "--data", unreadable(write_image(t / "a.png", gray_u8()))],
                                     t / "a.png"), "permission denied"),
    "source without the target sequence": (
        lambda t: (["--model", "pix2pix", "--data", _brats(t), "--target", "flair"], t / "brats"),
        "no training slices usable by pix2pix"),
    "--source for dcgan": (lambda t: (["--model", "dcgan", "--data", _brats(t), "--source", "t1"], "--source"),
                           "is for pix2pix, not dcgan"),
    "--target for pggan": (lambda t: (["--model", "pggan", "--data", _brats(t), "--target", "flair"], "--target"),
                           "is for pix2pix, not pggan"),
    "--resume without a run": (lambda t: (["--model", "dcgan", "--data", _brats(t), "--resume"], t / "run"),
                               "no run to resume"),
    "--out holding a run": (lambda t: (["--model", "dcgan", "--data", _saved_run(t)], t / "run"),
                            "already holds a run"),
    "--resume with another config": (
        lambda t: (["--model", "dcgan", "--data", _saved_run(t), "--resume", "--set", "lr_g=0.1"],
                   t / "run" / "config.json"), "resume refused: lr_g differs"),
    "--resume without a checkpoint": (lambda t: (["--model", "dcgan", "--data", _saved_run(t), "--resume"],
                                                 t / "run" / "checkpoints"), "no checkpoint to restore"),
    "--resume with only damaged checkpoints (warnings dropped)": (
        lambda t: (["--model", "dcgan", "--data", _damaged_run(t), "--resume"], t / "run" / "checkpoints"),
        "no readable checkpoint"),
    "unknown --set key": (lambda t: (["--model", "dcgan", "--data", _brats(t), "--set", "colour=red"], "--set"),
                          "unknown config key 'colour'"),
    "--set of the wrong type": (lambda t: (["--model", "dcgan", "--data", _brats(t), "--set", "steps=many"], "--set"),
                                "is not a valid"),
    "--set steps=0": (lambda t: (["--model", "dcgan", "--data", _brats(t), "--set", "steps=0"], "--set"),
                      "steps must be positive"),
    "malformed --set": (lambda t: (["--model", "dcgan", "--data", _brats(t), "--set", "steps"], "--set"),
                        "expected key=value"),
    **{f"--set {key} for {model}": (lambda t, model=model, key=key: (
        ["--model", model, "--data", _brats(t), "--set", f"{key}=8"], "--set"), f"{key} is for {models}, not {model}")
       for model, key, models in [("dcgan", "unet_depth", "pix2pix"), ("pix2pix", "z_dim", "dcgan, cdcgan, pggan"),
                                  ("cdcgan", "fmap_base", "pggan"), ("pggan", "g_filters", "dcgan, cdcgan")]},
    "multiworker without TF_CONFIG": (
        lambda t: (["--model", "dcgan", "--data", _brats(t), "--strategy", "multiworker"], "--strategy"),
        "needs TF_CONFIG"),
}


def _touch(path):
    path.write_text("notes\n")
    return path


def _full_folder(t):
    (t / "w").mkdir()
    _touch(t / "w" / "notes.txt")
    return t / "w"


# name -> (make(t) -> (pretrain-vgg arguments without --out, --out, named), problem)
PRETRAIN_VGG = {
    "--out is a file": (lambda t: ([], _touch(t / "w"), t / "w"), "is a file, not a folder"),
    "--out holding other files": (lambda t: ([], _full_folder(t), t / "w"), "holds no MRI VGG19 weights"),
    "--out holding weights, no --overwrite": (lambda t: ([], _vgg_weights(t / "w"), t / "w"),
                                              "holds MRI VGG19 weights already; pass --overwrite to replace them"),
    "missing --data": (lambda t: (["--data", t / "nope"], t / "w", t / "nope"), "no such file or directory"),
    "--size 8": (lambda t: (["--size", "8"], t / "w", "--size"), "must be at least 16"),
    "--steps 0": (lambda t: (["--steps", "0"], t / "w", "--steps"), "must be at least 1"),
    "--batch 0": (lambda t: (["--batch", "0"], t / "w", "--batch"), "must be at least 1"),
    "--lr 0": (lambda t: (["--lr", "0"], t / "w", "--lr"), "must be positive"),
}


def _vgg_weights(folder):
    from mri_gan.style import vgg

    folder.mkdir()
    _touch(folder / vgg.MRI_INFO)
    return folder


# ------------------------------------------------------------------------------ outputs

def _impute_run(t):
    """A folder that `load_run` takes for a pix2pix --target any run (config.json, model.json)."""
    (t / "run").mkdir()
    cfg = resolve("pix2pix", "smoke", "phantom?subjects=4&size=32&slices=2", {"target": "any"})
    cfg.save(t / "run" / "config.json")
    _touch(t / "run" / "model.json").write_text("{}\n")
    return t / "run"


def _saved(out):
    """An earlier output at ``out``: a file where the command writes a file, else a full folder."""
    if out.suffix:
        return _touch(out)
    out.mkdir()
    _touch(out / "earlier.txt")
    return out


def _shipped(out):
    from mri_gan import pretrained

    out.mkdir()
    for name in pretrained.FILES:
        _touch(out / name)
    return out


def _version_1(out):
    (out / "1").mkdir(parents=True)
    _touch(out / "1" / "saved_model.pb")
    return out / "1"


# command -> (make(t) -> its arguments but --out, the --out name, make(out) -> an earlier output
# (the path named), problem without --overwrite); every refusal comes before a model is loaded
WRITERS = {
    "data preview": (lambda t: ["data", "preview", write_image(t / "a.png", gray_u8())], "grid.png", _saved,
                     "exists; pass --overwrite to replace it"),
    "synthesize a volume": (lambda t: ["synthesize", "--input", t / "case", "--target", "flair"], "out.nii.gz",
                            _saved, "exists; pass --overwrite to replace it"),
    "synthesize slices": (lambda t: ["synthesize", "--input", f"t1={t / 't1'}", "--target", "flair"], "out",
                          _saved, "exists and is not empty; pass --overwrite to replace it"),
    "fill": (lambda t: ["fill", t / "case"], "out", _saved, "exists and is not empty; pass --overwrite"),
    "generate": (lambda t: ["generate", "--run", t / "run", "--n", "2"], "out", _saved,
                 "exists and is not empty; pass --overwrite"),
    "balance": (lambda t: ["balance", "--run", t / "run", "--data", "phantom"], "out", _saved,
                "exists and is not empty; pass --overwrite"),
    "evaluate": (lambda t: ["evaluate", "--run", t / "run"], "out", _saved,
                 "exists and is not empty; pass --overwrite"),
    "report": (lambda t: ["report", "--runs", t / "run"], "out", _saved,
               "exists and is not empty; pass --overwrite"),
    "stylize": (lambda t: ["stylize", "--content", t / "c", "--style", t / "s"], "out", _saved,
                "exists and is not empty; pass --overwrite"),
    "pretrain-vgg": (lambda t: ["pretrain-vgg", "--data", t / "nope", "--steps", "1"], "w", _vgg_weights,
                     "holds MRI VGG19 weights already; pass --overwrite to replace them"),
    "pretrained pack": (lambda t: ["pretrained", "pack", "--run", _impute_run(t)], "out", _shipped,
                        "holds a shipped model already; pass --overwrite to replace it"),
    "export --version 1": (lambda t: ["export", "--run", _impute_run(t), "--version", "1"], "models", _version_1,
                           "version exists already"),
}


# ------------------------------------------------------------------------------ the checks

@pytest.fixture
def as_owner(monkeypatch, tmp_path):
    """A context in which os.access and os.scandir answer as for the files' owner without root;
    the working folder and the caches inside tmp_path."""
    access, scandir = os.access, os.scandir

    def owner_access(path, mode, *args, **kwargs):
        need = ((stat.S_IRUSR if mode & os.R_OK else 0) | (stat.S_IWUSR if mode & os.W_OK else 0)
                | (stat.S_IXUSR if mode & os.X_OK else 0))
        try:
            granted = os.stat(path).st_mode & need == need
        except OSError:
            granted = True
        return granted and access(path, mode, *args, **kwargs)

    def owner_scandir(path="."):
        if not isinstance(path, int) and not os.stat(path).st_mode & stat.S_IRUSR:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return scandir(path)

    @contextlib.contextmanager
    def context():
        with monkeypatch.context() as patch:
            patch.setattr(os, "access", owner_access)
            patch.setattr(os, "scandir", owner_scandir)
            yield

    monkeypatch.setenv("MRI_GAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cache").mkdir()
    return context


def refused_cleanly(capfd, tmp_path, as_owner, args, where, problem):
    before = disk_state(tmp_path)
    with as_owner():
        proc = run_cli(capfd, *args)
    assert_one_line_error(proc, where, problem)
    assert disk_state(tmp_path) == before


@pytest.mark.parametrize("command", ["inspect", "preview"])
@pytest.mark.parametrize("name", list(BAD_SOURCES))
def test_bad_source(capfd, tmp_path, as_owner, name, command):
    make, problem = BAD_SOURCES[name]
    source, where, extra = make(tmp_path)
    out = ["--out", tmp_path / "grid.png"] if command == "preview" else []
    refused_cleanly(capfd, tmp_path, as_owner, ["data", command, source, *out, *extra], where, problem)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_file_preview(capfd, tmp_path, as_owner, name):
    make, source, extra, problem = CASES[name]
    path = make(tmp_path)
    refused_cleanly(capfd, tmp_path, as_owner,
                    ["data", "preview", source(path), "--out", tmp_path / "grid.png", *extra], path, problem)


@pytest.mark.parametrize("name", list(SOURCE_CASES))
def test_bad_source_string_preview(capfd, tmp_path, as_owner, name):
    text, problem = SOURCE_CASES[name]
    write_image(tmp_path / "a.png", gray_u8())
    source = text.format(tmp=tmp_path)
    refused_cleanly(capfd, tmp_path, as_owner,
                    ["data", "preview", source, "--out", tmp_path / "grid.png"], source, problem)


@pytest.mark.parametrize("name", list(TRAIN))
def test_bad_training(capfd, tmp_path, as_owner, name):
    make, problem = TRAIN[name]
    args, where = make(tmp_path)
    out = tmp_path / "run" / "inner" if name == "--out below a file" else tmp_path / "run"
    refused_cleanly(capfd, tmp_path, as_owner,
                    ["train", "--preset", "smoke", "--out", out, "--no-progress", *args], where, problem)


@pytest.mark.parametrize("name", list(PRETRAIN_VGG))
def test_bad_vgg_pretraining(capfd, tmp_path, as_owner, name):
    make, problem = PRETRAIN_VGG[name]
    args, out, where = make(tmp_path)
    data = ["--data", _brats(tmp_path)] if "--data" not in args else []
    refused_cleanly(capfd, tmp_path, as_owner,
                    ["pretrain-vgg", "--out", out, "--steps", "1", *data, *args], where, problem)


@pytest.mark.parametrize("name", list(WRITERS))
def test_earlier_output_kept_without_overwrite(capfd, tmp_path, as_owner, name):
    make, out, earlier, problem = WRITERS[name]
    args = make(tmp_path)
    where = earlier(tmp_path / out)
    refused_cleanly(capfd, tmp_path, as_owner, [*args, "--out", tmp_path / out], where, problem)


@pytest.mark.parametrize("name", list(WRITERS))
def test_out_of_the_wrong_kind(capfd, tmp_path, as_owner, name):
    """A file where a folder is written or the reverse, even with --overwrite; a folder below a file."""
    make, out, _, _ = WRITERS[name]
    args = make(tmp_path)
    if "." in out:
        (tmp_path / out).mkdir()
        problem = "is a folder, not a file; choose another --out"
    else:
        _touch(tmp_path / out)
        problem = "is a file, not a folder; choose another --out"
    overwrite = [] if name.startswith("export") else ["--overwrite"]
    refused_cleanly(capfd, tmp_path, as_owner, [*args, "--out", tmp_path / out, *overwrite], tmp_path / out, problem)
    plain = _touch(tmp_path / "plain")
    refused_cleanly(capfd, tmp_path, as_owner, [*args, "--out", plain / out], plain,
                    "is a file, not a folder; choose another --out")


# ------------------------------------------------------------------------------ passed over, counted

def test_bad_files_in_a_collection_are_counted(capfd, tmp_path, as_owner):
    """Without --strict, each bad file of a folder is skipped and counted; the rest is read."""
    folder = tmp_path / "set"
    write_image(folder / "good.png", gray_u8())
    png_bomb(folder / "bomb.png")
    unreadable(write_image(folder / "locked.png", gray_u8()))
    symlink(folder / "loop.png", folder / "loop.png")
    symlink(folder / "gone.png", folder / "nothing.png")
    unlistable_folder(folder)
    with as_owner():
        proc = run_cli(capfd, "data", "inspect", folder, "--json")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["slices"] == 1
    assert summary["skipped"] == {
        "its header claims 100000x100000 pixels, more than the 67108864 (8192 x 8192) an image may have": 1,
        "permission denied (this user may not read it)": 1, "a symbolic link loop": 1,
        "a broken symbolic link (its target does not exist)": 1, "cannot list this folder (permission denied)": 1}


def test_tiny_image_is_read_with_one_warning(capfd, tmp_path):
    write_image(tmp_path / "set" / "tiny.png", np.full((1, 1), 128, np.uint8))
    small = write_image(tmp_path / "set" / "small.png", gray_u8((16, 20)))
    write_image(tmp_path / "set" / "fine.png", gray_u8())
    proc = run_cli(capfd, "data", "inspect", tmp_path / "set", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["slices"] == 3
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mri-gan: warning: {small}: 20x16 pixels, below the "
                                                   "32-pixel minimum"), lines
    assert "(and 1 more image(s) of this source)" in lines[0]
