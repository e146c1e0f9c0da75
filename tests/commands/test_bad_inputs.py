"""Bad input through the CLI: exit code 2, exactly one stderr line naming the file and the problem,
nothing written.

The cases run through ``mri_gan.cli.main`` in this process (cli_checks.run_cli); a sample of
them runs as real subprocesses. test_bad_input_corpus runs them through `data preview` too.
"""

from __future__ import annotations

import argparse
import contextlib
import io

import numpy as np
import pytest
from cli_checks import assert_one_line_error, disk_state, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from make_data import dicom_series, gray_u8, volume, write_image, write_nifti

from mri_gan.cli import run
from mri_gan.commands.data import run_inspect


def _png(tmp_path, name="img.png"):
    return write_image(tmp_path / name, gray_u8())


def _bytes(tmp_path, name, data):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _nan_volume():
    v = volume()
    v[2, 3, 4] = np.nan
    return v


def _inf_volume():
    v = volume()
    v[2, 3, 4] = -np.inf
    return v


def _strict_folder(tmp_path):
    write_image(tmp_path / "c" / "fine.png", gray_u8())
    return _bytes(tmp_path, "c/broken.jpg", b"\xff\xd8\xff\xe0 truncated")


def _odd_shape_case(tmp_path):
    write_nifti(tmp_path / "case" / "case_t1.nii.gz", volume())
    write_nifti(tmp_path / "case" / "case_t2.nii.gz", volume())
    return write_nifti(tmp_path / "case" / "case_flair.nii.gz", volume((16, 16, 9)))


# name -> (make(tmp_path) -> path named in the error, source string from that path, extra args, problem)
CASES = {
    "missing path": (lambda t: t / "nope", str, [], "no such file or directory"),
    "missing path with kind": (lambda t: t / "nope", lambda p: f"folder:{p}", [], "no such file or directory"),
    "empty folder": (lambda t: (t / "empty").mkdir() or t / "empty", str, [], "no images, NIfTI"),
    "empty folder as folder": (lambda t: (t / "empty").mkdir() or t / "empty", lambda p: f"folder:{p}", [],
                               "no image files"),
    "folder without images": (lambda t: _bytes(t, "notes/a.csv", b"x,y\n").parent, lambda p: f"folder:{p}", [],
                              "no image files"),
    "corrupt image": (lambda t: _bytes(t, "bad.jpg", b"\xff\xd8 garbage"), lambda p: f"folder:{p}", [],
                      "not a readable image"),
    "truncated image": (lambda t: _truncated(_png(t)), lambda p: f"folder:{p}", [], "not a readable image"),
    "zero-byte image": (lambda t: _bytes(t, "zero.png", b""), lambda p: f"folder:{p}", [], "empty file"),
    "corrupt image in a folder, strict": (_strict_folder, lambda p: str(p.parent), ["--strict"],
                                          "not a readable image"),
    "zero-byte image alone in a folder": (lambda t: _bytes(t, "one/zero.png", b""), lambda p: str(p.parent), [],
                                          "empty file"),
    "NIfTI not 3-D": (lambda t: write_nifti(t / "x_t1.nii.gz", volume()[..., 0]), str, [], "not a 3-D volume"),
    "NIfTI 4-D": (lambda t: write_nifti(t / "x_t1.nii", np.stack([volume()] * 2, -1)), str, [],
                  "not a 3-D volume"),
    "NIfTI truncated": (lambda t: _truncated(write_nifti(t / "x_t1.nii.gz", volume())), str, [],
                        "not a readable NIfTI"),
    "NIfTI garbage": (lambda t: _bytes(t, "x_t1.nii", b"\0" * 400), str, [], "not a readable NIfTI"),
    "NaN voxels": (lambda t: write_nifti(t / "x_t1.nii.gz", _nan_volume()), str, [], "NaN or infinite"),
    "inf voxels": (lambda t: write_nifti(t / "x_t1.nii.gz", _inf_volume()), str, [], "NaN or infinite"),
    "all-zero volume": (lambda t: write_nifti(t / "x_t1.nii.gz", np.zeros((8, 8, 8))), str, [],
                        "all voxels are zero"),
    "shapes differ in a case, strict": (_odd_shape_case, lambda p: str(p.parent), ["--strict"],
                                        "differs from the case's other sequences"),
    "unknown sequence name in a file name": (lambda t: write_nifti(t / "case_t5.nii.gz", volume()), str, [],
                                             "unknown sequence name 't5'"),
    "DICOM without pixel data": (lambda t: dicom_series(t / "s", zs=(0,), with_pixels=False)[0],
                                 lambda p: f"dicom:{p}", [], "DICOM without pixel data"),
    "DICOM garbage": (lambda t: _bytes(t, "x.dcm", b"hello, not DICOM"), str, [], "not a readable DICOM"),
    "NumPy garbage": (lambda t: _bytes(t, "x.npy", b"\x93NUMPY broken"), str, [], "not a readable NumPy"),
    "NumPy of Python objects": (lambda t: _object_array(t), str, [], "Python objects"),
}

# source strings that are wrong in themselves: the error names the string
SOURCE_CASES = {
    "unknown KIND": ("mri:whatever", "unknown data source kind 'mri'"),
    "malformed ?key=value": ("phantom?subjects", "malformed option 'subjects'"),
    "option given twice": ("phantom?seed=1&seed=2", "given twice"),
    "unknown option": ("phantom?colour=red", "unknown option 'colour'"),
    "unknown sequence option": ("folder:{tmp}?sequence=t5", "unknown sequence name 't5'"),
    "bad channel map": ("slices:{tmp}?channels=t1,t1", "at most once"),
    "option of the wrong type": ("dicom:{tmp}?anonymize=perhaps", "not a valid flag"),
}


def _object_array(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return path


@pytest.mark.parametrize("name", list(CASES))
def test_bad_file_gives_one_line(capfd, tmp_path, name):
    make, source, extra, problem = CASES[name]
    path = make(tmp_path)
    before = disk_state(tmp_path)
    assert_one_line_error(run_cli(capfd, "data", "inspect", source(path), *extra), path, problem)
    assert disk_state(tmp_path) == before


@pytest.mark.parametrize("name", list(SOURCE_CASES))
def test_bad_source_string_gives_one_line(capfd, tmp_path, name):
    text, problem = SOURCE_CASES[name]
    write_image(tmp_path / "a.png", gray_u8())
    source = text.format(tmp=tmp_path)
    assert_one_line_error(run_cli(capfd, "data", "inspect", source, "--json"), source, problem)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["missing path", "truncated image", "shapes differ in a case, strict"])
def test_bad_file_in_a_subprocess(cli, tmp_path, name):
    make, source, extra, problem = CASES[name]
    path = make(tmp_path)
    assert_one_line_error(cli("data", "inspect", source(path), *extra), path, problem)


@pytest.mark.slow
def test_bad_arguments_in_a_subprocess(cli, tmp_path):
    png = write_image(tmp_path / "a.png", gray_u8())
    out = tmp_path / "grid.jpg"
    assert_one_line_error(cli("data", "preview", f"folder:{png}", "--out", out), out, "PNG")
    assert not out.exists()
    proc = cli("data")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


def test_bad_arguments_give_one_line(capfd, tmp_path):
    png = write_image(tmp_path / "a.png", gray_u8())
    assert_one_line_error(run_cli(capfd, "data", "preview", f"folder:{png}", "--out", tmp_path / "g.png",
                                     "--subjects", "0"), "--subjects", "at least 1")
    assert_one_line_error(run_cli(capfd, "data", "inspect", f"folder:{png}", "--size", "3"), "--size", "outside")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli(capfd, "data", "preview", f"folder:{empty}", "--out", tmp_path / "g.png"),
                          empty, "no image files")
    assert not (tmp_path / "g.png").exists()
    (tmp_path / "split.json").write_text('{"train": "s1"}')
    for split, problem in ((tmp_path / "none.json", "cannot read split"), (tmp_path / "split.json", "lists")):
        assert_one_line_error(run_cli(capfd, "train", "--model", "dcgan", "--preset", "smoke", "--split", split,
                                      "--out", tmp_path / "run"), split, problem)
    assert not (tmp_path / "run").exists()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200),
       name=st.sampled_from(["x.png", "x.JPG", "x.tif", "x.bmp", "x_t1.nii", "x_flair.nii.gz", "x.dcm",
                             "x.npy", "x.npz"]))
def test_random_bytes_give_one_line(tmp_path_factory, data, name):
    """Any bytes under any name: a summary, or one line naming the file; never an internal error."""
    path = tmp_path_factory.mktemp("random") / name
    path.write_bytes(data)
    kind = "folder:" if name.lower().endswith((".png", ".jpg", ".tif", ".bmp")) else ""
    stdout, stderr = io.StringIO(), io.StringIO()
    args = argparse.Namespace(source=f"{kind}{path}", json=True, strict=False, size=None)
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = run(run_inspect, args)
    if code == 0:
        assert stderr.getvalue() == "" and '"slices"' in stdout.getvalue()
    else:
        assert code == 2 and stderr.getvalue().count("\n") == 1 and str(path) in stderr.getvalue()
