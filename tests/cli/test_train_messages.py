"""train on a terminal: progress per step (k-means iterations, PQ sub-quantizers, OPQ rounds,
RQ stages) and a summary line; the small-sample warning everywhere (a cron log too)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import clustered

VTOOL = [sys.executable, "-c", "from vtool.cli.main import main; main()"]


def run_on_terminal(args, cwd) -> str:
    """stderr of vtool ARGS attached to a pseudo-terminal, as a user at a shell sees it."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(VTOOL + [str(a) for a in args], cwd=cwd, stdout=subprocess.DEVNULL,
                                stderr=follower, env=dict(os.environ, COLUMNS="120"))
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=120) == 0
    finally:
        os.close(leader)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("spec, shown", [("IVF16,Flat", "IVF16 k-means"), ("PQ4", "PQ4 codebooks"),
                                         ("OPQ4,PQ4", "OPQ4 rounds"), ("RQ2x4", "RQ2 stages")])
def test_train_shows_progress_and_a_summary_on_a_terminal(tmp_path, spec, shown):
    np.save(tmp_path / "x.npy", clustered(3000, 8, seed=3))
    err = run_on_terminal(["train", "x.npy", "--index", spec, "-o", "m.vti"], tmp_path)
    assert shown in err
    assert f"trained {spec}" in err and "-> m.vti" in err


def test_fewer_than_39_points_per_centroid_is_a_warning(tmp_path, cli):
    np.save(tmp_path / "x.npy", clustered(1000, 8, seed=4))
    r = cli("train", tmp_path / "x.npy", "--index", "IVF64,PQ4", "-o", tmp_path / "m.vti")
    assert r.code == 0
    lines = r.err.strip().splitlines()
    assert "vtool: warning: IVF64: 1000 training points for 64 centroids, 15.6 per centroid (fewer than 39)" \
        in lines[0]
    assert any("PQ4x8: 1000 training points for 256 centroids, 3.9 per centroid" in line for line in lines)
    r = cli("train", tmp_path / "x.npy", "--index", "IVF16,Flat", "-o", tmp_path / "n.vti")
    assert r.code == 0 and "warning" not in r.err  # 62.5 per centroid
