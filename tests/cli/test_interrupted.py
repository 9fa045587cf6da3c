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
