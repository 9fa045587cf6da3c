import numpy as np

from tests.conftest import clustered
from vtool.quant.kmeans import _split_empty, assign, kmeans


def test_kmeans_is_deterministic_and_improves_objective():
    x = clustered(4000, 8, seed=3)
    a = kmeans(x, 16, niter=10, seed=5)
    b = kmeans(x, 16, niter=10, seed=5)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    assert a.objective[-1] <= a.objective[0]
    assert all(later <= earlier * (1 + 1e-6) for earlier, later in zip(a.objective, a.objective[1:]))


def test_kmeanspp_init_is_no_worse_on_blobs():
    x = clustered(3000, 8, seed=4, centers=10)
    rnd = kmeans(x, 10, niter=15, seed=1, init="random").objective[-1]
    pp = kmeans(x, 10, niter=15, seed=1, init="kmeans++").objective[-1]
    assert pp <= rnd * 1.05


def test_empty_clusters_are_split_from_large_ones():
    centroids = np.array([[0.0, 0.0], [5.0, 5.0], [100.0, 100.0]], np.float32)
    counts = np.array([10, 0, 90])
    rng = np.random.default_rng(0)
    assert _split_empty(centroids, counts, rng) == 1
    assert counts.sum() == 100 and (counts > 0).all()
    assert len({tuple(c) for c in centroids}) == 3


def test_duplicate_points_leave_no_empty_cluster_unrepaired():
    x = np.repeat(np.eye(4, dtype=np.float32), 50, axis=0)  # 4 distinct points, 8 clusters
    result = kmeans(x, 8, niter=5, seed=0)
    labels, _ = assign(x, result.centroids)
    assert len(np.unique(labels)) == 4
    assert result.splits > 0


def test_degenerate_training_data_terminates():
    """Identical rows, and rows so small their distances underflow, once spun for minutes
    re-splitting the same empty clusters (issue 11, item 4): k-means stops when every point
    sits on a centroid. Run in a subprocess so a regression fails instead of hanging."""
    import subprocess
    import sys

    code = """
import numpy as np, vtool
row = np.random.default_rng(0).normal(size=(1, 16)).astype(np.float32)
for x in (np.tile(row, (3000, 1)), np.random.default_rng(1).normal(size=(3000, 16)).astype(np.float32) * 1e-39):
    for spec in ("PQ4", "IVF8,PQ4", "IVF8,SQ8"):
        index = vtool.train(x, spec, seed=0)
        index.add(x)
        d, i = index.search(x[:3], 5, nprobe=8)
        assert (i >= 0).all(), (spec, i)
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
