"""A killed `vtool add` leaves the previous output intact (and SIGTERM cleans its temp file up)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import clustered
from vtool.index.index import load_index

VTOOL = [sys.executable, "-c", "from vtool.cli.main import main; main()"]


@pytest.fixture
def slow_add(tmp_path):
    """A model, an existing index, and an input big enough (with tiny batches) to kill midway."""
    np.save(tmp_path / "small.npy", clustered(1000, 16, seed=1))
    np.save(tmp_path / "big.npy", clustered(400_000, 16, seed=2))
    subprocess.run(VTOOL + ["train", str(tmp_path / "small.npy"), "--index", "IVF8,Flat", "-o",
                            str(tmp_path / "model.vti")], check=True)
    subprocess.run(VTOOL + ["add", str(tmp_path / "model.vti"), str(tmp_path / "small.npy"), "-o",
                            str(tmp_path / "index.vti")], check=True)
    return tmp_path


def start_add_and_wait_for_temp_file(d):
    proc = subprocess.Popen(VTOOL + ["add", str(d / "model.vti"), str(d / "big.npy"), "-o", str(d / "index.vti"),
                                     "--batch-size", "200"], stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if list(d.glob(".index.vti.*.tmp")):
            return proc
        time.sleep(0.01)
    proc.kill()
    pytest.fail("vtool add finished or stalled before it started writing its output")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_add_midway_leaves_the_previous_index_intact(slow_add, sig):
    d = slow_add
    before = (d / "index.vti").read_bytes()
    proc = start_add_and_wait_for_temp_file(d)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    assert (d / "index.vti").read_bytes() == before
    assert load_index(str(d / "index.vti")).ntotal == 1000
    if sig == signal.SIGTERM:  # a catchable signal: the temp file is removed too
        assert not list(d.glob(".index.vti.*")) and not list(d.glob(".vtool-add-*"))


def test_what_a_killed_add_left_is_removed_by_the_next_run(slow_add):
    """SIGKILL cannot be caught: the temp file and the scratch folder stay until the next run
    writing to that folder sees that their process is gone."""
    d = slow_add
    proc = start_add_and_wait_for_temp_file(d)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert list(d.glob(".index.vti.*.tmp")) and list(d.glob(".vtool-add-*"))
    subprocess.run(VTOOL + ["add", str(d / "model.vti"), str(d / "small.npy"), "-o", str(d / "other.vti")],
                   check=True)
    assert not list(d.glob(".index.vti.*")) and not list(d.glob(".vtool-add-*"))
    assert load_index(str(d / "index.vti")).ntotal == 1000


def test_temp_files_of_live_processes_are_kept(tmp_path):
    from vtool.io.atomic import owner_tag, remove_stale

    mine = tmp_path / f".out.vti.{owner_tag()}abc123.tmp"  # this (live) process
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    theirs = tmp_path / f".out.vti.{owner_tag().replace(str(__import__('os').getpid()), str(dead.pid))}abc123.tmp"
    unrelated = tmp_path / ".out.vti.abc123.tmp"
    for p in (mine, theirs, unrelated):
        p.write_bytes(b"x")
    assert remove_stale(tmp_path) == [theirs.name]
    assert mine.exists() and unrelated.exists() and not theirs.exists()
