"""A full disk: one line and exit 1, never SIGBUS, and no temp file or scratch folder left
(outputs are written through memory maps, whose blocks are now reserved before any store)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import clustered

VTOOL = [sys.executable, "-c", "from vtool.cli.main import main; main()"]


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (skipped where it cannot be mounted: not root, no tmpfs, a container)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.decode().strip() or r.returncode})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def run(*args):
    return subprocess.run(VTOOL + [str(a) for a in args], capture_output=True, text=True, timeout=120)


def assert_full_disk(r, disk):
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])  # not 135 (SIGBUS)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vtool: error: No space left on device"), r.stderr
    assert not [p.name for p in disk.iterdir() if p.name.startswith(".")]


def test_train_add_and_compress_on_a_full_disk_fail_cleanly(tmp_path, small_disk):
    x = clustered(20000, 32, seed=41)  # 2.5 MB of vectors: an index does not fit in 1 MiB
    np.save(tmp_path / "x.npy", x)
    assert run("train", tmp_path / "x.npy", "--index", "IVF16,Flat", "-o", tmp_path / "m.vti").returncode == 0
    assert run("add", tmp_path / "m.vti", tmp_path / "x.npy", "-o", tmp_path / "i.vti").returncode == 0
    assert_full_disk(run("add", tmp_path / "m.vti", tmp_path / "x.npy", "-o", small_disk / "i.vti"), small_disk)
    assert_full_disk(run("compress-ids", tmp_path / "i.vti", "-o", small_disk / "c.vti", "--method", "packed"),
                     small_disk)
    (small_disk / "filler").write_bytes(bytes(1024 * 1024 - 8192))  # leave less than a model needs
    assert_full_disk(run("train", tmp_path / "x.npy", "--index", "IVF256,Flat", "-o", small_disk / "m.vti"),
                     small_disk)
    assert sorted(os.listdir(small_disk)) == ["filler"]
