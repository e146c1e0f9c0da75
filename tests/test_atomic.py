"""mri_gan.atomic: all-at-once files and folders, refusals, modes, stale temporaries."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mri_gan import atomic
from mri_gan.errors import UserError


@pytest.fixture
def umask_022():
    before = os.umask(0o022)
    yield
    os.umask(before)


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_file_written_whole_with_umask_mode(tmp_path, umask_022):
    out = tmp_path / "a" / "b" / "x.nii.gz"
    with atomic.atomic_file(out) as tmp:
        assert tmp.parent == out.parent and tmp.name.endswith(".x.nii.gz") and tmp.name.startswith(".tmp-")
        assert not out.exists()
        tmp.write_text("one")
    assert out.read_text() == "one" and listing(out.parent) == ["x.nii.gz"]
    assert out.stat().st_mode & 0o777 == 0o644
    os.umask(0o077)
    with atomic.atomic_file(out, overwrite=True) as tmp:
        tmp.write_text("two")
    assert out.read_text() == "two" and out.stat().st_mode & 0o777 == 0o600


def test_folder_written_whole_with_umask_mode(tmp_path, umask_022):
    out = tmp_path / "models" / "1"
    with atomic.atomic_folder(out) as tmp:
        assert not tmp.name.isdigit() and tmp.name.startswith(".")
        (tmp / "f.txt").write_text("new")
    assert listing(tmp_path / "models") == ["1"] and (out / "f.txt").read_text() == "new"
    assert out.stat().st_mode & 0o777 == 0o755
    with atomic.atomic_folder(out, overwrite=True) as tmp:
        (tmp / "g.txt").write_text("newer")
    assert listing(out) == ["g.txt"] and listing(tmp_path / "models") == ["1"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic.atomic_folder(empty) as tmp:   # an empty folder is taken without --overwrite
        (tmp / "h.txt").write_text("")
    assert listing(empty) == ["h.txt"]


@pytest.mark.parametrize("folder", [False, True])
def test_exception_leaves_nothing(tmp_path, folder):
    out = tmp_path / "new" / "deeper" / ("out" if folder else "out.png")
    with pytest.raises(RuntimeError):
        with (atomic.atomic_folder if folder else atomic.atomic_file)(out) as tmp:
            (tmp / "part" if folder else tmp).write_text("half")
            raise RuntimeError("failed")
    assert listing(tmp_path) == []
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(KeyboardInterrupt):
        with (atomic.atomic_folder if folder else atomic.atomic_file)(kept / "out") as tmp:
            raise KeyboardInterrupt
    assert listing(tmp_path) == ["kept"] and listing(kept) == []


def test_existing_target_refused_unless_overwrite(tmp_path):
    (tmp_path / "x.png").write_text("saved")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("saved")
    with pytest.raises(UserError, match="x.png: exists; pass --overwrite to replace it"):
        with atomic.atomic_file(tmp_path / "x.png"):
            pass
    with pytest.raises(UserError, match="full: exists and is not empty; pass --overwrite"):
        atomic.check(tmp_path / "full", folder=True)
    with pytest.raises(UserError, match="x.png: is a file, not a folder; choose another --out"):
        atomic.check(tmp_path / "x.png", overwrite=True, folder=True)
    with pytest.raises(UserError, match="x.png: is a file, not a folder"):
        atomic.check(tmp_path / "x.png" / "inner", folder=True)
    with pytest.raises(UserError, match="full: is a folder, not a file"):
        atomic.check(tmp_path / "full", overwrite=True)
    assert (tmp_path / "x.png").read_text() == "saved" and listing(tmp_path) == ["full", "x.png"]


def test_target_appearing_while_writing_is_refused(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UserError, match="out: appeared while writing; nothing written"):
        with atomic.atomic_folder(out) as tmp:
            (tmp / "mine").write_text("")
            out.mkdir()
            (out / "theirs").write_text("")
    assert listing(tmp_path) == ["out"] and listing(out) == ["theirs"]


def test_stale_temporaries_of_a_dead_writer_removed(tmp_path):
    dead, alive = dead_pid(), os.getppid()
    for pid in (dead, alive):
        (tmp_path / f".tmp-{atomic.HOST}-{pid}-abcd_123.1").mkdir()
        (tmp_path / f".tmp-{atomic.HOST}-{pid}-abcd_123.x.png").write_text("")
    other_host = f".tmp-{'0' * 8 if atomic.HOST != '0' * 8 else '1' * 8}-{dead}-abcd_123.y.png"
    (tmp_path / other_host).write_text("")
    (tmp_path / ".tmp-notours").write_text("")
    with atomic.atomic_file(tmp_path / "z.png") as tmp:
        tmp.write_text("")
    assert listing(tmp_path) == sorted([f".tmp-{atomic.HOST}-{alive}-abcd_123.1",
                                        f".tmp-{atomic.HOST}-{alive}-abcd_123.x.png", other_host, ".tmp-notours",
                                        "z.png"])


def test_output_moved_aside_by_a_dead_writer_is_put_back(tmp_path):
    dead = dead_pid()
    aside = tmp_path / f".old-{atomic.HOST}-{dead}-abcd_123.report"
    aside.mkdir()
    (aside / "saved.txt").write_text("saved")
    (tmp_path / f".tmp-{atomic.HOST}-{dead}-wxyz_123.report").mkdir()   # its complete replacement
    replaced = tmp_path / f".old-{atomic.HOST}-{dead}-abcd_123.other"   # an output replaced after all
    replaced.mkdir()
    (tmp_path / "other").mkdir()
    atomic.remove_stale(tmp_path)
    assert listing(tmp_path) == ["other", "report"] and (tmp_path / "report" / "saved.txt").read_text() == "saved"


def test_synthesized_nifti_follows_the_umask(tmp_path, umask_022):
    import nibabel as nib
    import numpy as np

    from mri_gan.synthesis import write_nifti

    reference = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4))
    out = write_nifti(np.ones((4, 4, 4), np.float32), reference, tmp_path / "x_flair.nii.gz", "test")
    assert out.stat().st_mode & 0o777 == 0o644 and listing(tmp_path) == ["x_flair.nii.gz"]
    assert nib.load(out).get_fdata().mean() == 1
