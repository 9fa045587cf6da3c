"""Result collectors (top-k, radius) and the scanner's distances to arbitrary rows, against
brute force: the same scan feeds either collector."""

from __future__ import annotations

import numpy as np
import pytest

from tests.native.test_kernels import LEVELS
from vtool import _native

FLAT, SQ8 = _native.scan_kind("FLAT"), _native.scan_kind("SQ8")


@pytest.fixture(autouse=True)
def restore_level():
    before = _native.simd_level()
    yield
    _native.set_simd_level(before)


def lists(rng, sizes, d):
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return offsets, rng.normal(size=(int(offsets[-1]), d)).astype(np.float32)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_radius_collector_returns_every_row_within_the_radius_sorted(level, metric):
    rng = np.random.default_rng(1)
    offsets, x = lists(rng, [0, 5, 700, 1, 300], 10)
    queries = rng.normal(size=(6, 10)).astype(np.float32)
    probes = np.stack([rng.permutation(5)[:3] for _ in range(6)])
    exact = ((queries[:, None] - x[None]) ** 2).sum(-1) if metric == "l2" else -(queries @ x.T)
    radius = float(np.quantile(exact, 0.05))
    _native.set_simd_level(level)
    lims, dist, pos = _native.ivf_scan(FLAT, queries, x.view(np.uint8), offsets, probes, metric, radius=radius)
    assert lims[0] == 0 and lims[-1] == len(pos) == len(dist)
    for q in range(len(queries)):
        rows = np.concatenate([np.arange(offsets[l], offsets[l + 1]) for l in probes[q]])
        want = rows[exact[q, rows] <= radius]
        got_p, got_d = pos[lims[q]:lims[q + 1]], dist[lims[q]:lims[q + 1]]
        near = np.abs(exact[q, rows] - radius) <= 1e-4 * (1 + abs(radius))  # rounding at the border
        assert set(got_p) - set(rows[near]) <= set(want) and set(want) - set(rows[near]) <= set(got_p)
        np.testing.assert_allclose(got_d, exact[q, got_p], rtol=1e-5, atol=1e-4)
        assert np.all(np.diff(got_d) >= 0)
        assert np.all(got_d <= radius)


def test_radius_and_topk_agree_on_the_nearest():
    rng = np.random.default_rng(2)
    offsets, x = lists(rng, [400, 400], 8)
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    probes = np.tile([0, 1], (5, 1))
    dist, pos = _native.ivf_scan(FLAT, queries, x.view(np.uint8), offsets, probes, "l2", k=7)
    lims, rd, rp = _native.ivf_scan(FLAT, queries, x.view(np.uint8), offsets, probes, "l2",
                                    radius=float(dist[:, -1].max()))
    for q in range(5):
        np.testing.assert_array_equal(rp[lims[q]:lims[q] + 7], pos[q])


def test_radius_scan_of_fast_scan_codes_keeps_only_rows_within_it():
    rng = np.random.default_rng(3)
    m, sizes = 4, [40, 70]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    codes = rng.integers(0, 16, size=(110, m)).astype(np.uint8)
    blocks = np.concatenate([_native.fs_pack_blocks(codes[offsets[l]:offsets[l + 1]]) for l in range(2)])
    bo = np.array([0, 2, 5], np.int64)
    books = rng.normal(size=(m, 16, 2)).astype(np.float32)
    q = rng.normal(size=(3, 8)).astype(np.float32)
    probes = np.tile([0, 1], (3, 1))
    d, p = _native.ivf_fs_scan(q, blocks, bo, offsets, probes, books, "l2", k=110)
    radius = float(np.median(d))
    lims, rd, rp = _native.ivf_fs_scan(q, blocks, bo, offsets, probes, books, "l2", radius=radius)
    for i in range(3):
        want = p[i][d[i] <= radius]
        np.testing.assert_array_equal(np.sort(rp[lims[i]:lims[i + 1]]), np.sort(want))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_scanner_distances_to_arbitrary_rows_equal_the_list_scan(level, metric):
    rng = np.random.default_rng(4)
    d, n = 20, 500
    codes = rng.integers(0, 256, size=(n, d)).astype(np.uint8)
    vmin, step = rng.normal(size=d).astype(np.float32), (rng.random(d) / 100).astype(np.float32)
    params = np.concatenate([vmin, step])
    centroids = rng.normal(size=(3, d)).astype(np.float32)
    q = rng.normal(size=d).astype(np.float32)
    _native.set_simd_level(level)
    s = _native.Scanner(SQ8, d, d, metric, params=params, centroids=centroids, by_residual=True)
    s.set_query(q, list_no=2)
    rows = rng.integers(0, n, size=333)
    got = s.distances(codes, rows)
    dec = vmin + (codes[rows] + np.float32(0.5)) * step + centroids[2]
    want = ((dec - q) ** 2).sum(1) if metric == "l2" else -(dec @ q)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError):
        s.distances(codes, np.array([n]))


def brute_topk(exact_row: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (distance, row) pairs, ties to the smaller row."""
    order = np.lexsort((rows, exact_row[rows]))[:k]
    return exact_row[rows][order], rows[order]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("k", [1, 19, 20, 40, 333])
def test_topk_heap_and_reservoir_keep_the_k_best_with_ties_to_the_smaller_row(level, k):
    """From k = 20 the collector appends to a reservoir of 2k and keeps the k best when full;
    the heap below: either gives the k best by (distance, row). Integer data: many exact ties."""
    rng = np.random.default_rng(5)
    offsets, _ = lists(rng, [0, 37, 700, 1, 300, 64], 4)
    x = rng.integers(-2, 3, size=(int(offsets[-1]), 4)).astype(np.float32)
    queries = rng.integers(-2, 3, size=(9, 4)).astype(np.float32)
    probes = np.stack([rng.permutation(6)[:4] for _ in range(9)])
    exact = ((queries[:, None] - x[None]) ** 2).sum(-1)
    _native.set_simd_level(level)
    dist, pos = _native.ivf_scan(FLAT, queries, x.view(np.uint8), offsets, probes, "l2", k=k)
    any_d, any_p = _native.ivf_scan(FLAT, queries, x.view(np.uint8), offsets, probes, "l2", k=k, ordered=False)
    for q in range(len(queries)):
        rows = np.concatenate([np.arange(offsets[l], offsets[l + 1]) for l in probes[q]])
        want_d, want_p = brute_topk(exact[q], rows, k)
        n = len(want_p)
        np.testing.assert_array_equal(pos[q, :n], want_p)
        np.testing.assert_array_equal(dist[q, :n], want_d)
        assert np.all(pos[q, n:] == -1) and np.all(dist[q, n:] == np.inf)
        # unordered: the same pairs, in some order, empty slots included
        got = sorted(zip(any_p[q].tolist(), any_d[q].tolist()))
        assert got == sorted(zip(pos[q].tolist(), dist[q].tolist()))


@pytest.mark.parametrize("k", [5, 19, 20, 40])
def test_a_result_equal_to_the_worst_kept_still_enters_when_its_row_is_smaller(k):
    """Runs of 16 results are screened against the threshold before the one-by-one test: the
    screen must let through a distance equal to the worst kept (a tie won by the smaller row),
    here every distance of the list probed second, whose rows are all smaller. One query
    probing two of 16 lists: too few to be put in list order, so list 1 is scanned first."""
    offsets = np.array([0, 64] + [131] * 15, dtype=np.int64)
    x = np.ones((131, 4), dtype=np.float32)
    dist, pos = _native.ivf_scan(FLAT, np.zeros((1, 4), np.float32), x.view(np.uint8), offsets, np.array([[1, 0]]),
                                 "l2", k=k)
    np.testing.assert_array_equal(pos, [np.arange(k)])
    np.testing.assert_array_equal(dist, np.full((1, k), 4, np.float32))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("k", [10, 40])
def test_fast_scan_top_k_is_the_same_through_heap_or_reservoir_and_in_any_order(level, k):
    rng = np.random.default_rng(6)
    m, sizes = 4, [300, 5, 170]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    codes = rng.integers(0, 16, size=(int(offsets[-1]), m)).astype(np.uint8)
    blocks = np.concatenate([_native.fs_pack_blocks(codes[offsets[l]:offsets[l + 1]]) for l in range(3)])
    bo = np.concatenate([[0], np.cumsum((np.array(sizes) + 31) // 32)]).astype(np.int64)
    books = rng.normal(size=(m, 16, 2)).astype(np.float32)
    q = rng.normal(size=(5, 8)).astype(np.float32)
    probes = np.tile([2, 0, 1], (5, 1))
    _native.set_simd_level(level)
    every_d, every_p = _native.ivf_fs_scan(q, blocks, bo, offsets, probes, books, "l2", k=int(offsets[-1]))
    d, p = _native.ivf_fs_scan(q, blocks, bo, offsets, probes, books, "l2", k=k)
    ad, ap = _native.ivf_fs_scan(q, blocks, bo, offsets, probes, books, "l2", k=k, ordered=False)
    np.testing.assert_array_equal(p, every_p[:, :k])
    np.testing.assert_array_equal(d, every_d[:, :k])
    for i in range(5):
        assert sorted(zip(ap[i].tolist(), ad[i].tolist())) == sorted(zip(p[i].tolist(), d[i].tolist()))
