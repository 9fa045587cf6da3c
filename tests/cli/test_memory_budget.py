"""--memory-budget: the same outputs, and the peak RSS of a command under the budget where
the same command without one maps the whole input (measured on a child process)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import assert_refused, bin_dir

N, D = 400_000, 100  # a 160 MB input


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    ws = tmp_path_factory.mktemp("budget")
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(64, D)).astype(np.float32) * 3
    with open(ws / "b.fbin", "wb") as f:
        f.write(np.array([N, D], "<u4").tobytes())
        for a in range(0, N, 100_000):
            x = centers[rng.integers(0, 64, 100_000)] + rng.normal(size=(100_000, D)).astype(np.float32)
            f.write(x.tobytes())
    np.save(ws / "q.npy", rng.normal(size=(200, D)).astype(np.float32) * 3)
    return ws


# A child's peak RSS counts what its parent held when it forked: a small Python starts vtool
# and reports its peak, so that pytest's own size is not in it.
PEAK = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, s, u = os.wait4(p.pid, 0); "
        "print(os.waitstatus_to_exitcode(s), u.ru_maxrss)")


def _peak_mb(*args) -> float:
    """Run the installed vtool; its peak RSS in MB."""
    out = subprocess.run([sys.executable, "-c", PEAK, os.path.join(bin_dir(), "vtool"), *map(str, args), "-q"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "0", args
    return int(out[1]) / 1024


def test_add_gt_and_search_stay_under_the_budget_with_the_same_outputs(big):
    ws = big
    _peak_mb("train", ws / "b.fbin", "--index", "IVF64,SQ8", "--max-train", 20000, "-o", ws / "m.vti")
    free = _peak_mb("add", ws / "m.vti", ws / "b.fbin", "-o", ws / "free.vti")
    held = _peak_mb("add", ws / "m.vti", ws / "b.fbin", "-o", ws / "held.vti", "--memory-budget", "200M")
    assert (ws / "free.vti").read_bytes() == (ws / "held.vti").read_bytes()
    assert free > 250 and held < 200, (free, held)  # without a budget the 160 MB input stays mapped
    held = _peak_mb("gt", ws / "b.fbin", ws / "q.npy", "-k", 10, "-o", ws / "g1.npz", "--memory-budget", "200M")
    _peak_mb("gt", ws / "b.fbin", ws / "q.npy", "-k", 10, "-o", ws / "g2.npz")
    assert held < 200 and (ws / "g1.npz").read_bytes() == (ws / "g2.npz").read_bytes()
    held = _peak_mb("search", ws / "free.vti", ws / "q.npy", "--nprobe", 4, "-o", ws / "s1.npz",
                    "--memory-budget", "200M")
    _peak_mb("search", ws / "free.vti", ws / "q.npy", "--nprobe", 4, "-o", ws / "s2.npz")
    assert held < 200 and (ws / "s1.npz").read_bytes() == (ws / "s2.npz").read_bytes()
    held = _peak_mb("merge", ws / "free.vti", ws / "held.vti", "--id-offset", "auto", "-o", ws / "two.vti",
                    "--memory-budget", "200M")
    assert held < 200


def test_budget_sizes_are_checked(cli, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 4), np.float32))
    for size, message in (("lots", "takes a size such as 512M or 2G"), ("10M", "at least 64M")):
        assert_refused(cli("train", tmp_path / "x.npy", "--index", "Flat", "-o", tmp_path / "m.vti",
                           "--memory-budget", size), message)
    from vtool.memory import parse_size

    assert parse_size("1.5G") == 3 << 29 and parse_size("512m") == 512 << 20 and parse_size("2GiB") == 2 << 30
