"""Ground truth does not depend on --batch-size or the SIMD level, near ties included: BLAS
candidates are ranked again in float64, and a query whose candidates could miss a neighbour
is searched again with more."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

VTOOL = [sys.executable, "-c", "from vtool.cli.main import main; main()"]


def brute_force(x, q, k):
    d = ((q.astype(np.float64)[:, None, :] - x.astype(np.float64)[None]) ** 2).sum(-1)
    order = np.lexsort((np.broadcast_to(np.arange(len(x)), d.shape), d), axis=-1)[:, :k]
    return order, np.take_along_axis(d, order, 1).astype(np.float32)


def test_gt_is_the_same_for_any_batch_size_and_simd_level(tmp_path):
    rng = np.random.default_rng(0)
    lattice = rng.integers(0, 4, size=(3000, 24)).astype(np.float32)  # many exact and near ties
    x = lattice + rng.normal(scale=1e-4, size=lattice.shape).astype(np.float32) * (rng.random((3000, 1)) < 0.5)
    x[100:160] = x[5]  # 61 copies of row 5: ties beyond the first shortlist of 2k + 16 = 36
    q = np.concatenate([x[5:6] + 0.01, lattice[rng.integers(0, 3000, 40)] + 0.5]).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", q)
    want_ids, want_dist = brute_force(x, q, 10)
    assert (want_ids[0] == np.r_[5, np.arange(100, 109)]).all()
    for i, (batch, simd) in enumerate([(65536, None), (1000, None), (777, "scalar"), (333, "avx2")]):
        env = dict(os.environ, **({"VTOOL_SIMD": simd} if simd else {}))
        r = subprocess.run(VTOOL + ["gt", "x.npy", "q.npy", "-k", "10", "--batch-size", str(batch), "-o", f"g{i}.npz"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        got = np.load(tmp_path / f"g{i}.npz")
        np.testing.assert_array_equal(got["ids"], want_ids)
        np.testing.assert_array_equal(got["distances"], want_dist)
