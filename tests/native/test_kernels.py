"""Every SIMD kernel against the scalar reference and numpy, on random and adversarial inputs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from vtool import _native

LEVELS = [lvl for lvl in _native.LEVEL_NAMES
          if _native.LEVEL_NAMES.index(lvl) <= _native.LEVEL_NAMES.index(_native.cpu_max_level())]
DIMS = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 50, 64, 100, 128, 384, 785]
NYS = [0, 1, 3, 4, 5, 17]


@pytest.fixture(autouse=True)
def restore_level():
    before = _native.simd_level()
    yield
    _native.set_simd_level(before)


def at_level(level, fn, *args):
    _native.set_simd_level(level)
    return fn(*args)


def adversarial_rows(rng, ny, d):
    kinds = [
        rng.normal(size=(ny, d)),
        rng.uniform(-1e15, 1e15, size=(ny, d)),  # large magnitudes (squares near 1e30)
        rng.normal(size=(ny, d)) * 1e-20,  # values whose squares underflow
        np.zeros((ny, d)),
        rng.integers(-3, 4, size=(ny, d)),  # many exact ties
    ]
    return [k.astype(np.float32) for k in kinds]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_distance_kernels_match_scalar_reference_and_numpy(level, metric):
    rng = np.random.default_rng(7)
    for d in DIMS:
        for ny in NYS:
            for y in adversarial_rows(rng, ny, d):
                x = y[0].copy() if ny else rng.normal(size=d).astype(np.float32)
                ref = at_level("scalar", _native.distances_ny, x, y, metric)
                got = at_level(level, _native.distances_ny, x, y, metric)
                exact = (((x.astype(np.float64) - y) ** 2).sum(1) if metric == "l2"
                         else (y.astype(np.float64) @ x.astype(np.float64)))
                scale = max(1.0, float(np.abs(exact).max(initial=0))) if metric == "l2" else \
                    max(1.0, float((np.abs(y.astype(np.float64)) @ np.abs(x.astype(np.float64))).max(initial=0)))
                tol = 1e-5 * scale
                np.testing.assert_allclose(got, ref, rtol=0, atol=tol, err_msg=f"{level} d={d} ny={ny}")
                np.testing.assert_allclose(got, exact, rtol=0, atol=tol, err_msg=f"{level} d={d} ny={ny}")


@pytest.mark.parametrize("level", LEVELS)
def test_identical_vectors_have_distance_exactly_zero(level):
    rng = np.random.default_rng(3)
    for d in DIMS:
        y = rng.normal(size=(5, d)).astype(np.float32)
        got = at_level(level, _native.distances_ny, y[2], y, "l2")
        assert got[2] == 0.0


@pytest.mark.parametrize("level", LEVELS)
def test_pairwise_and_norms_match_numpy(level):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(13, 50)).astype(np.float32)
    y = rng.normal(size=(29, 50)).astype(np.float32)
    _native.set_simd_level(level)
    np.testing.assert_allclose(_native.pairwise(x, y), ((x[:, None] - y[None]) ** 2).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(_native.pairwise(x, y, "ip"), x @ y.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_native.norms_sqr(x), (x * x).sum(1), rtol=1e-5)


@pytest.mark.parametrize("level", LEVELS)
def test_float64_norms_match_the_scalar_reference_and_numpy_and_carry_nan_and_inf(level):
    """The input check's norms (float64 sums of float32 squares) at every dimension tail,
    against numpy's float64 einsum and the scalar level; a NaN or Inf component gives its row
    a NaN or Inf norm, and the largest float32 values do not overflow."""
    rng = np.random.default_rng(5)
    for d in DIMS:
        x = (rng.normal(size=(7, d)) * rng.choice([1e-3, 1.0, 1e17], size=(7, 1))).astype(np.float32)
        x[6] = np.finfo(np.float32).max  # 785 squares of 3.4e38: 9e79, finite in float64
        want = np.einsum("ij,ij->i", x, x, dtype=np.float64)
        _native.set_simd_level("scalar")
        scalar = _native.norms_sqr_f64(x)
        _native.set_simd_level(level)
        got = _native.norms_sqr_f64(x)
        np.testing.assert_allclose(scalar, want, rtol=1e-13)
        np.testing.assert_allclose(got, want, rtol=1e-13)
        bad = x.copy()
        bad[1, d - 1], bad[3, 0] = np.nan, -np.inf
        got = _native.norms_sqr_f64(bad)
        assert np.isnan(got[1]) and got[3] == np.inf and np.isfinite(np.delete(got, [1, 3])).all()
    assert _native.norms_sqr_f64(np.zeros((0, 5), np.float32)).shape == (0,)


def reference_topk(dist: np.ndarray, k: int):
    """Sorted by (distance, id); -1/inf padding when a row has fewer than k candidates."""
    nq, nb = dist.shape
    ids = np.full((nq, k), -1, dtype=np.int64)
    out = np.full((nq, k), np.inf, dtype=np.float32)
    for q in range(nq):
        order = np.lexsort((np.arange(nb), dist[q]))[:k]
        ids[q, :len(order)] = order
        out[q, :len(order)] = dist[q, order]
    return out, ids


@pytest.mark.parametrize("k", [1, 2, 5, 10, 100, 2100])
def test_topk_selection_matches_sorting_with_ties_to_smaller_id(k):
    """Heaps below k = 20, reservoirs from it (kept by a select on keys; past 4,096 slots, k >
    2,048, on the pairs): random, heavily tied, all-zero and signed-zero distances."""
    rng = np.random.default_rng(k)
    nb = max(300, 3 * k)
    for dist in (rng.normal(size=(20, nb)).astype(np.float32),
                 rng.integers(0, 5, size=(20, nb)).astype(np.float32),  # heavy ties
                 np.zeros((3, 50), np.float32),
                 np.copysign(rng.integers(0, 2, (3, nb)), rng.choice([-1, 1], (3, nb))).astype(np.float32),
                 rng.normal(size=(4, 3)).astype(np.float32)):  # fewer candidates than k
        top = _native.TopK(dist.shape[0], k)
        for j0 in range(0, dist.shape[1], 37):  # fold in blocks, as the searches do
            top.add_distances(dist[:, j0:j0 + 37], j0)
        got_d, got_i = top.result()
        ref_d, ref_i = reference_topk(dist, k)
        np.testing.assert_array_equal(got_i, ref_i)
        np.testing.assert_array_equal(got_d, ref_d)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_topk_from_inner_products_matches_direct_distances(metric):
    rng = np.random.default_rng(11)
    q = rng.normal(size=(30, 24)).astype(np.float32)
    b = rng.normal(size=(500, 24)).astype(np.float32)
    top = _native.TopK(30, 10)
    for j0 in range(0, 500, 128):
        blk = b[j0:j0 + 128]
        top.add_inner_products(q @ blk.T, j0, 0, _native.norms_sqr(q), _native.norms_sqr(blk), metric)
    got_d, got_i = top.result()
    direct = _native.pairwise(q, b, metric)
    direct = direct if metric == "l2" else -direct
    ref_d, ref_i = reference_topk(direct, 10)
    np.testing.assert_allclose(got_d, ref_d, rtol=1e-4, atol=1e-4)
    assert (got_i == ref_i).mean() > 0.99  # BLAS rounding may swap near-ties only


def test_kmeans_accumulate_matches_numpy():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1000, 17)).astype(np.float32)
    a = rng.integers(0, 9, size=1000)
    sums, counts = _native.kmeans_accumulate(x, a, 10)
    np.testing.assert_array_equal(counts, np.bincount(a, minlength=10))
    for c in range(10):
        np.testing.assert_allclose(sums[c], x[a == c].astype(np.float64).sum(0), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_ivf_scan_matches_brute_force_over_probed_lists(level, metric):
    rng = np.random.default_rng(6)
    d, sizes = 33, [0, 1, 700, 5, 1200, 0, 3]  # empty, tiny and multi-chunk lists
    vectors = rng.normal(size=(sum(sizes), d)).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    queries = rng.normal(size=(9, d)).astype(np.float32)
    probes = np.stack([rng.permutation(len(sizes))[:4] for _ in range(9)])
    _native.set_simd_level(level)
    got_d, got_p = _native.ivf_scan(0, queries, vectors.view(np.uint8), offsets, probes, metric, 10)
    _native.set_simd_level("scalar")
    for q in range(9):
        rows = np.concatenate([np.arange(offsets[l], offsets[l + 1]) for l in probes[q]])
        dist = _native.distances_ny(queries[q], vectors[rows], metric)
        dist = dist if metric == "l2" else -dist
        order = np.lexsort((rows, dist))[:10]
        want = rows[order]
        assert len(want) <= 10
        np.testing.assert_array_equal(got_p[q, :len(want)], want)
        np.testing.assert_allclose(got_d[q, :len(want)], dist[order], rtol=1e-5, atol=1e-5)
        assert (got_p[q, len(want):] == -1).all()


@pytest.mark.parametrize("level", LEVELS)
def test_crc32c_known_value_and_agreement_with_table_reference(level):
    _native.set_simd_level(level)
    assert _native.crc32c(b"123456789") == 0xE3069283
    assert _native.crc32c(b"") == 0
    rng = np.random.default_rng(8)
    for n in [1, 7, 8, 9, 63, 64, 1000, 4097]:
        data = rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
        got = _native.crc32c(data)
        _native.set_simd_level("scalar")
        ref = _native.crc32c(data)
        _native.set_simd_level(level)
        assert got == ref
        half = n // 2
        assert _native.crc32c(data[half:], _native.crc32c(data[:half])) == got  # chaining


def test_environment_variable_forces_the_simd_level():
    env = dict(os.environ, VTOOL_SIMD="scalar")
    code = "from vtool import _native; print(_native.simd_level(), _native.cpu_max_level())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    level, best = out.stdout.split()
    assert level == "scalar"
    assert best == _native.cpu_max_level()


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_fused_nearest_centroid_matches_scalar_reference_and_numpy(level, metric):
    rng = np.random.default_rng(12)
    for n, d, k in [(1, 1, 1), (7, 3, 5), (9, 50, 256), (33, 17, 31), (100, 64, 33), (17, 128, 300)]:
        x = rng.normal(size=(n, d)).astype(np.float32)
        c = rng.normal(size=(k, d)).astype(np.float32)
        _native.set_simd_level("scalar")
        ref_l, ref_d = _native.assign_nearest(x, c, metric, threads=1)
        _native.set_simd_level(level)
        got_l, got_d = _native.assign_nearest(x, c, metric, threads=2)
        exact = _native.pairwise(x, c, metric)
        exact = exact if metric == "l2" else -exact
        want = np.argmin(exact, axis=1)
        tol = 1e-4 * (1 + np.abs(exact).max())
        for labels in (ref_l, got_l):  # any disagreement with numpy must be a near-tie
            np.testing.assert_allclose(exact[np.arange(n), labels], exact[np.arange(n), want], atol=tol)
        np.testing.assert_allclose(got_d, ref_d, rtol=1e-4, atol=tol)
        np.testing.assert_allclose(got_d if metric == "l2" else -got_d, exact[np.arange(n), want], rtol=1e-4, atol=tol)


@pytest.mark.parametrize("level", LEVELS)
def test_fused_nearest_centroid_breaks_exact_ties_to_the_smaller_index(level):
    _native.set_simd_level(level)
    c = np.repeat(np.eye(4, dtype=np.float32), 20, axis=0)  # 80 centroids, each value 20 times
    x = np.eye(4, dtype=np.float32)[[3, 0, 2, 1, 3]]
    labels, dist = _native.assign_nearest(x, c)
    np.testing.assert_array_equal(labels, [60, 0, 40, 20, 60])
    np.testing.assert_array_equal(dist, 0)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_nearest_centroids_match_scalar_reference_and_numpy(level, metric):
    """The IVF probe: the nprobe nearest centroids, fused products and heaps."""
    rng = np.random.default_rng(13)
    for n, d, k, nprobe in [(1, 1, 1, 1), (7, 3, 5, 5), (9, 50, 256, 16), (33, 17, 31, 4), (100, 64, 33, 32),
                            (17, 128, 300, 7), (10, 8, 4, 6)]:
        x = rng.normal(size=(n, d)).astype(np.float32)
        c = rng.normal(size=(k, d)).astype(np.float32)
        runs = []
        for lv in ("scalar", level):  # the scalar reference, then the level
            _native.set_simd_level(lv)
            exact = _native.pairwise(x, c, metric) * (1 if metric == "l2" else -1)
            runs.append((*_native.nearest_centroids(x, c, nprobe, metric), exact))
        want = np.sort(exact, axis=1)[:, :nprobe]
        tol = 1e-4 * (1 + np.abs(exact).max())
        kept = min(nprobe, k)
        for labels, dist, exact in runs:
            assert np.all(labels[:, kept:] == -1) and np.all(dist[:, kept:] == np.inf)
            labels, dist = labels[:, :kept], dist[:, :kept]
            assert np.all(np.diff(dist, axis=1) >= 0)
            assert all(len(set(row)) == kept for row in labels)  # distinct lists
            # any disagreement with numpy must be a near-tie
            np.testing.assert_allclose(np.take_along_axis(exact, labels, 1), want[:, :kept], atol=tol)
            # the distances reported are the direct ones (pairwise), not |x|^2 + |c|^2 - 2<x,c>
            np.testing.assert_array_equal(dist, np.take_along_axis(exact, labels, 1))
        if nprobe == 1:  # the same choice as the fused nearest centroid
            np.testing.assert_array_equal(runs[1][0][:, 0], _native.assign_nearest(x, c, metric, threads=1)[0])


@pytest.mark.parametrize("level", LEVELS)
def test_nearest_centroids_break_exact_ties_to_the_smaller_index(level):
    _native.set_simd_level(level)
    c = np.repeat(np.eye(4, dtype=np.float32), 20, axis=0)  # 80 centroids, each value 20 times
    x = np.eye(4, dtype=np.float32)[[3, 0, 2, 1, 3]]
    labels, dist = _native.nearest_centroids(x, c, 25)
    np.testing.assert_array_equal(labels[:, :20], (np.array([60, 0, 40, 20, 60])[:, None] + np.arange(20)))
    np.testing.assert_array_equal(dist[:, :20], 0)
    np.testing.assert_array_equal(labels[:, 20:], np.arange(5)[None] + [[0], [20], [0], [0], [0]])


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_distances_to_listed_rows_match_contiguous_rows(level, metric):
    """A graph search reads rows in place, in any order and with repeats."""
    rng = np.random.default_rng(11)
    for d in DIMS:
        y = rng.normal(size=(40, d)).astype(np.float32)
        x = rng.normal(size=d).astype(np.float32)
        for n in NYS + [40]:
            rows = rng.integers(0, 40, size=n).astype(np.int32)
            ref = at_level("scalar", _native.distances_ny, x, y[rows], metric)
            got = at_level(level, _native.distances_rows, x, y, rows, metric)
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4, err_msg=f"{level} d={d} n={n}")


@pytest.mark.parametrize("bad", [-1, 40, 2**31 - 1])
def test_distances_to_listed_rows_refuse_rows_outside_the_matrix(bad):
    y = np.zeros((40, 8), np.float32)
    with pytest.raises(ValueError, match="out of range"):
        _native.distances_rows(np.zeros(8, np.float32), y, np.array([0, bad]), "l2")


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_inner_product_fold_is_the_same_at_every_level_and_thread_count(metric):
    """The SIMD folds push what the scalar loop pushes: ties, exact matches, NaN, blocks
    narrower and wider than k; and the fold split over threads changes nothing."""
    from vtool.exact import knn
    rng = np.random.default_rng(12)
    q = rng.integers(0, 3, size=(70, 8)).astype(np.float32)  # many exact ties and exact matches
    b = rng.integers(0, 3, size=(700, 8)).astype(np.float32)
    ip = q @ b.T
    ip[3, 5] = np.nan
    results = []
    for level in LEVELS:
        _native.set_simd_level(level)
        for width in (7, 300):  # narrower and wider than k
            top = _native.TopK(len(q), 20)
            for j0 in range(0, len(b), width):
                blk = b[j0:j0 + width]
                top.add_inner_products(np.ascontiguousarray(ip[:, j0:j0 + width]), j0, 0, _native.norms_sqr(q),
                                       _native.norms_sqr(blk), metric)
            results.append(top.result())
        for t in (1, 3):  # knn gives inner products for ip, not minimised distances
            d, i = knn(q, b, 20, metric, threads=t)
            results.append((d if metric == "l2" else -d, i))
    for d, i in results[1:]:
        np.testing.assert_array_equal(i, results[0][1])
        np.testing.assert_array_equal(d, results[0][0])
    ref = np.where(np.isnan(ip), np.inf, (q ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None] - 2 * ip
                   if metric == "l2" else -ip)
    _, ref_i = reference_topk(np.maximum(ref, 0) if metric == "l2" else ref, 20)
    np.testing.assert_array_equal(results[0][1][[0, 1, 2, 4]], ref_i[[0, 1, 2, 4]])


@pytest.mark.parametrize("level", LEVELS)
def test_centroid_tiles_packed_once_serve_many_probes_alike(level):
    """An IVF search's chunks share one packing of the centroids (per SIMD level)."""
    _native.set_simd_level(level)
    rng = np.random.default_rng(14)
    c = rng.normal(size=(70, 24)).astype(np.float32)
    x = rng.normal(size=(50, 24)).astype(np.float32)
    tiles = _native.CentroidTiles(c)
    assert tiles.level == level
    for chunk in np.array_split(x, 3):
        for nprobe in (1, 6):
            got, want = tiles.nearest(chunk, nprobe), _native.nearest_centroids(chunk, c, nprobe)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
