"""The CLI run in the test process, and what a refusal must look like (for the bad-input tests)."""

from __future__ import annotations

import argparse
import os

from mri_gan.cli import build_parser, main

build_parser()  # the commands' first imports happen now, outside any test's output capture


def run_cli(capfd, *args) -> argparse.Namespace:
    """Run the CLI in this process with file-descriptor capture (so anything a C library prints
    counts too); returns an object like subprocess.CompletedProcess."""
    capfd.readouterr()
    code = main([str(a) for a in args])
    out, err = capfd.readouterr()
    return argparse.Namespace(returncode=code, stdout=out, stderr=err)


def assert_one_line_error(proc, where, problem):
    """Exit code 2, nothing on stdout, one stderr line naming ``where`` and ``problem``."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mri-gan: error: ") and "Traceback" not in proc.stderr
    assert str(where) in lines[0] and problem in lines[0], lines[0]
    assert proc.stdout == ""


def disk_state(folder) -> dict[str, tuple]:
    """Every entry below ``folder`` (links not followed) -> its type, size and modification time."""
    state = {}
    for root, folders, names in os.walk(folder):
        for name in folders + names:
            info = os.lstat(os.path.join(root, name))
            state[os.path.relpath(os.path.join(root, name), folder)] = (info.st_mode, info.st_size,
                                                                         info.st_mtime_ns)
    return state
