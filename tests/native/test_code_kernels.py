"""Encoded-vector kernels (SQ8, fp16, ADC, fast-scan, the generic IVF scan) against scalar
references and numpy, on random inputs and edge sizes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.native.test_kernels import LEVELS
from vtool import _native
from vtool.quant.fastscan import FastScanPQ, pack_nibbles, unpack_nibbles

KIND_FLAT, KIND_SQ8, KIND_FP16, KIND_PQ, KIND_RQ, KIND_SQ4, KIND_BF16 = (
    _native.scan_kind(n) for n in ("FLAT", "SQ8", "FP16", "PQ", "RQ", "SQ4", "BF16"))

DIMS = [1, 7, 8, 15, 16, 17, 33, 50, 64, 100]


@pytest.fixture(autouse=True)
def restore_level():
    before = _native.simd_level()
    yield
    _native.set_simd_level(before)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_sq8_distances_match_scalar_and_numpy_decode(level, metric):
    rng = np.random.default_rng(1)
    for d in DIMS:
        for n in (0, 1, 5, 33):
            x = rng.normal(size=d).astype(np.float32)
            codes = rng.integers(0, 256, size=(n, d)).astype(np.uint8)
            vmin = rng.normal(size=d).astype(np.float32)
            step = (rng.random(d) / 50).astype(np.float32)
            _native.set_simd_level("scalar")
            ref = _native.sq8_distances(x, codes, vmin, step, metric)
            _native.set_simd_level(level)
            got = _native.sq8_distances(x, codes, vmin, step, metric)
            dec = vmin + (codes.astype(np.float32) + np.float32(0.5)) * step
            want = ((dec - x) ** 2).sum(1) if metric == "l2" else dec @ x
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("signed", [False, True])
def test_direct_byte_codes_give_exact_integer_distances(level, signed):
    """SQ8_direct(_signed) runs the SQ8 kernel with vmin -0.5 (-128.5), step 1: for byte
    queries every distance below 2^24 is the exact integer, at every SIMD level."""
    from vtool.quant.sq_direct import SQ8Direct, SQ8DirectSigned

    rng = np.random.default_rng(2)
    _native.set_simd_level(level)
    for d in DIMS + [128, 255]:
        enc = (SQ8DirectSigned if signed else SQ8Direct)(d)
        lo = enc.low
        x = rng.integers(lo, lo + 256, size=(40, d)).astype(np.float32)
        x[0], x[1] = lo, lo + 255  # the extremes of the range
        q = rng.integers(lo, lo + 256, size=d).astype(np.float32)
        codes = enc.encode(x)
        np.testing.assert_array_equal(enc.decode(codes), x)
        vmin, step = np.split(enc.scan_params(), 2)
        xi, qi = x.astype(np.int64), q.astype(np.int64)
        for metric, want in (("l2", ((xi - qi) ** 2).sum(1)), ("ip", xi @ qi)):
            got = _native.sq8_distances(q, codes, vmin, step, metric)
            np.testing.assert_array_equal(got.astype(np.int64), want)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_sq4_distances_match_scalar_and_numpy_decode(level, metric):
    rng = np.random.default_rng(11)
    for d in DIMS + [31, 47, 63, 65, 129]:
        for n in (0, 1, 5, 33):
            x = rng.normal(size=d).astype(np.float32)
            comps = rng.integers(0, 16, size=(n, d)).astype(np.uint8)
            codes = pack_nibbles(comps)
            if n and d % 2:  # the padding nibble of an odd dimension is ignored whatever it holds
                codes[:, -1] |= 0xF0
            vmin = rng.normal(size=d).astype(np.float32)
            step = (rng.random(d) / 5).astype(np.float32)
            _native.set_simd_level("scalar")
            ref = _native.sq4_distances(x, codes, vmin, step, metric)
            _native.set_simd_level(level)
            got = _native.sq4_distances(x, codes, vmin, step, metric)
            dec = vmin + (comps.astype(np.float32) + np.float32(0.5)) * step
            want = ((dec - x) ** 2).sum(1) if metric == "l2" else dec @ x
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_bf16_distances_match_scalar_and_numpy(level, metric):
    rng = np.random.default_rng(12)
    for d in DIMS + [31, 47, 129]:
        for n in (0, 1, 4, 17):
            x = rng.normal(size=d).astype(np.float32)
            vals = np.concatenate([rng.normal(size=(n, d)) * 1e3, np.full((1, d), 1e-38), np.full((1, d), -3e38)])[:n]
            codes = (vals.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
            _native.set_simd_level("scalar")
            ref = _native.bf16_distances(x, codes, metric)
            _native.set_simd_level(level)
            got = _native.bf16_distances(x, codes, metric)
            dec = (codes.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
            want = ((dec - x) ** 2).sum(1) if metric == "l2" else dec @ x
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_fp16_distances_match_scalar_and_numpy(level, metric):
    rng = np.random.default_rng(2)
    for d in DIMS:
        for n in (0, 1, 4, 17):
            x = rng.normal(size=d).astype(np.float32)
            vals = np.concatenate([rng.normal(size=(n, d)), np.full((1, d), 6e-8), np.full((1, d), -65504)])[:n]
            codes = vals.astype(np.float16)  # includes subnormals and the largest half
            _native.set_simd_level("scalar")
            ref = _native.fp16_distances(x, codes, metric)
            _native.set_simd_level(level)
            got = _native.fp16_distances(x, codes, metric)
            dec = codes.astype(np.float64)
            want = ((dec - x) ** 2).sum(1) if metric == "l2" else dec @ x
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_adc_sums_table_entries_and_stored_norms():
    rng = np.random.default_rng(3)
    for m, ksub in [(1, 256), (3, 16), (8, 256), (10, 64), (33, 256)]:
        lut = rng.normal(size=(m, ksub)).astype(np.float32)
        codes = rng.integers(0, ksub, size=(21, m)).astype(np.uint8)
        want = lut[np.arange(m), codes].sum(1)
        np.testing.assert_allclose(_native.adc_distances(lut, codes), want, rtol=1e-5, atol=1e-5)
        norms = rng.random(21).astype(np.float32)
        with_norm = np.concatenate([codes, norms.view(np.uint8).reshape(-1, 4)], axis=1)
        np.testing.assert_allclose(_native.adc_distances(lut, with_norm, extra_norm=True, bias=2.0),
                                   want + norms + 2.0, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("m", [1, 2, 3, 10, 16, 33])
def test_fast_scan_blocks_round_trip_and_accumulate_bit_exactly(m):
    rng = np.random.default_rng(m)
    for n in (0, 1, 31, 32, 33, 100):
        codes = rng.integers(0, 16, size=(n, m)).astype(np.uint8)
        np.testing.assert_array_equal(unpack_nibbles(pack_nibbles(codes), m), codes)
        blocks = _native.fs_pack_blocks(codes)
        assert blocks.shape == ((n + 31) // 32, 16 * m)
        qlut = rng.integers(0, 256, size=(m, 16)).astype(np.uint8)
        padded = np.zeros((len(blocks) * 32, m), np.uint8)  # padding lanes hold code 0
        padded[:n] = codes
        want = qlut[np.arange(m), padded].sum(1)
        for level in LEVELS:  # every path is exact integer arithmetic
            _native.set_simd_level(level)
            np.testing.assert_array_equal(_native.fs_accumulate(blocks, m, qlut), want)


def test_fast_scan_table_quantization_bounds_the_error():
    rng = np.random.default_rng(4)
    lut = rng.normal(size=(12, 16)).astype(np.float32) * 3
    qlut, bias, scale = _native.fs_quantize_lut(lut)
    codes = rng.integers(0, 16, size=(500, 12))
    exact = lut[np.arange(12), codes].sum(1)
    approx = bias + qlut[np.arange(12), codes].sum(1) / scale
    assert np.abs(approx - exact).max() <= 12 * 0.5 / scale + 1e-4  # half a step per table


def brute(queries, decoded, lists_of_rows, probes, metric, k):
    out = []
    for q, row_probes in zip(queries, probes):
        rows = np.concatenate([lists_of_rows[l] for l in row_probes])
        dist = ((decoded[rows] - q) ** 2).sum(1) if metric == "l2" else -(decoded[rows] @ q)
        order = np.lexsort((rows, dist))[:k]
        out.append((dist[order], rows[order]))
    return out


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("kind", ["sq8", "fp16", "pq", "rq", "sq4", "bf16"])
@pytest.mark.parametrize("residual", [False, True])
def test_ivf_scan_of_every_encoding_matches_brute_force_on_decoded_vectors(level, metric, kind, residual):
    rng = np.random.default_rng(5)
    d, sizes, m, ksub = 12, [0, 1, 300, 7, 600, 2], 4, 16
    n = sum(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    lists_of_rows = [np.arange(offsets[l], offsets[l + 1]) for l in range(len(sizes))]
    centroids = rng.normal(size=(len(sizes), d)).astype(np.float32)
    list_of_row = np.repeat(np.arange(len(sizes)), sizes)
    precomputed = None
    if kind == "sq8":
        codes = rng.integers(0, 256, size=(n, d)).astype(np.uint8)
        vmin, step = rng.normal(size=d).astype(np.float32), (rng.random(d) / 100).astype(np.float32)
        params, kcode = np.concatenate([vmin, step]), KIND_SQ8
        decoded = vmin + (codes + np.float32(0.5)) * step
    elif kind == "sq4":
        comps = rng.integers(0, 16, size=(n, d)).astype(np.uint8)
        codes = pack_nibbles(comps)
        vmin, step = rng.normal(size=d).astype(np.float32), (rng.random(d) / 10).astype(np.float32)
        params, kcode = np.concatenate([vmin, step]), KIND_SQ4
        decoded = vmin + (comps + np.float32(0.5)) * step
    elif kind == "bf16":
        halves = (rng.normal(size=(n, d)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        codes, params, kcode = halves.view(np.uint8).reshape(n, 2 * d), None, KIND_BF16
        decoded = (halves.astype(np.uint32) << 16).view(np.float32)
    elif kind == "fp16":
        halves = rng.normal(size=(n, d)).astype(np.float16)
        codes, params, kcode = halves.view(np.uint8).reshape(n, 2 * d), None, KIND_FP16
        decoded = halves.astype(np.float32)
    elif kind == "pq":
        books = rng.normal(size=(m, ksub, d // m)).astype(np.float32)
        codes = rng.integers(0, ksub, size=(n, m)).astype(np.uint8)
        params, kcode = books, KIND_PQ
        decoded = np.concatenate([books[j][codes[:, j]] for j in range(m)], axis=1)
        if residual and metric == "l2":
            precomputed = ((books.astype(np.float64) ** 2).sum(-1)[None]
                           + 2 * np.einsum("ljd,jkd->ljk", centroids.reshape(-1, m, d // m), books)).astype(np.float32)
    else:
        books = rng.normal(size=(m, ksub, d)).astype(np.float32)
        idx = rng.integers(0, ksub, size=(n, m))
        decoded = sum(books[j][idx[:, j]] for j in range(m)).astype(np.float32)
        norms = (decoded.astype(np.float64) ** 2).sum(1).astype(np.float32)
        codes = np.concatenate([idx.astype(np.uint8), norms.view(np.uint8).reshape(-1, 4)], axis=1)
        params, kcode = books, KIND_RQ
        if residual and metric == "l2":
            precomputed = (2 * centroids.astype(np.float64) @ books.reshape(-1, d).T.astype(np.float64)
                           ).astype(np.float32).reshape(-1, m, ksub)
    full = decoded + centroids[list_of_row] if residual else decoded
    queries = rng.normal(size=(7, d)).astype(np.float32)
    probes = np.stack([rng.permutation(len(sizes))[:3] for _ in range(7)])
    coarse = ((queries[:, None, :] - centroids[probes]) ** 2).sum(-1).astype(np.float32)
    _native.set_simd_level(level)
    got_d, got_p = _native.ivf_scan(kcode, queries, codes, offsets, probes, metric, 10,
                                    centroids=centroids if residual else None, by_residual=residual,
                                    coarse_dist=coarse if metric == "l2" else None, params=params, m=m, ksub=ksub,
                                    precomputed=precomputed)
    for q, (want_d, want_p) in enumerate(brute(queries, full, lists_of_rows, probes, metric, 10)):
        np.testing.assert_allclose(got_d[q, :len(want_d)], want_d, rtol=1e-4, atol=1e-3)
        same = got_p[q, :len(want_p)] == want_p
        # a swap is only allowed between near-equal distances
        assert same.all() or np.allclose(np.sort(got_d[q, :len(want_d)]), want_d, rtol=1e-4, atol=1e-3)
        assert (got_p[q, len(want_p):] == -1).all()
    if precomputed is not None:  # by the query's table and each row's list term: the same results
        terms = np.empty(n, np.float32)
        _native.list_terms(precomputed, codes, offsets, np.arange(len(sizes)), terms)
        by_terms = _native.ivf_scan(kcode, queries, codes, offsets, probes, metric, 10, centroids=centroids,
                                    by_residual=True, coarse_dist=coarse, params=params, m=m, ksub=ksub,
                                    precomputed=precomputed, terms=terms)
        np.testing.assert_allclose(by_terms[0], got_d, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(by_terms[1], got_p)


def test_a_sub_code_past_its_table_reads_a_wrong_entry_never_past_the_table():
    """4-bit sub-codes in bytes: a corrupt byte is masked to the 16-entry table (a wrong
    distance, no read beyond it); tables must be a power of two long."""
    rng = np.random.default_rng(3)
    lut = rng.normal(size=(3, 16)).astype(np.float32)
    codes = np.array([[0xF3, 0x10, 0xFF], [3, 0, 15]], np.uint8)
    got = _native.adc_distances(lut, codes)
    assert got[0] == got[1] == np.float32(lut[0, 3] + lut[1, 0] + lut[2, 15])
    with pytest.raises(ValueError):
        _native.adc_distances(rng.normal(size=(3, 12)).astype(np.float32), codes)


def test_list_terms_and_scans_by_them_refuse_what_does_not_fit():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 16, size=(10, 4)).astype(np.uint8)
    tables = rng.normal(size=(2, 4, 16)).astype(np.float32)
    offsets, terms = np.array([0, 4, 10], np.int64), np.empty(10, np.float32)
    _native.list_terms(tables, codes, offsets, np.array([1, 0]), terms)
    np.testing.assert_allclose(terms, [tables[int(r >= 4), np.arange(4), codes[r]].sum() for r in range(10)], rtol=1e-6)
    for lists, offs in (([2], offsets), ([-1], offsets), ([0], np.array([0, 6, 5], np.int64)),
                        ([1], np.array([0, 4, 11], np.int64))):
        with pytest.raises(ValueError):
            _native.list_terms(tables, codes, offs, np.array(lists), terms)
    with pytest.raises(ValueError):  # terms without the tables they come from, or of the wrong length
        _native.ivf_scan(KIND_PQ, rng.normal(size=(1, 8)).astype(np.float32), codes, offsets, np.array([[0]]), "l2",
                         3, params=rng.normal(size=(4, 16, 2)).astype(np.float32), m=4, ksub=16, terms=terms)
    with pytest.raises(ValueError):
        _native.ivf_scan(KIND_PQ, rng.normal(size=(1, 8)).astype(np.float32), codes, offsets, np.array([[0]]), "l2",
                         3, centroids=rng.normal(size=(2, 8)).astype(np.float32), by_residual=True,
                         params=rng.normal(size=(4, 16, 2)).astype(np.float32), m=4, ksub=16, precomputed=tables,
                         terms=terms[:9])


@pytest.mark.parametrize("metric,residual", [("l2", None), ("ip", None), ("l2", "precomputed"), ("l2", "direct"),
                                             ("ip", "direct")])
def test_fast_scan_paths_agree_bit_for_bit_and_track_float_adc(metric, residual):
    rng = np.random.default_rng(6)
    d, m, sizes = 21, 7, [0, 1, 31, 32, 33, 500]  # odd m and d: every tail of every path
    n = sum(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    pq = FastScanPQ(d, m, by_residual=False)
    pq.codebooks = rng.normal(size=(m, 16, 3)).astype(np.float32)
    codes = rng.integers(0, 16, size=(n, m)).astype(np.uint8)
    blocks = np.concatenate([_native.fs_pack_blocks(codes[offsets[l]:offsets[l + 1]]) for l in range(len(sizes))])
    block_offsets = np.concatenate([[0], np.cumsum([(s + 31) // 32 for s in sizes])]).astype(np.int64)
    queries = rng.normal(size=(9, d)).astype(np.float32)
    probes = np.tile(np.arange(len(sizes)), (9, 1))
    centroids = rng.normal(size=(len(sizes), d)).astype(np.float32) if residual else None
    precomputed = None
    if residual == "precomputed":
        books = pq.codebooks.astype(np.float64)
        precomputed = ((books ** 2).sum(-1)[None] + 2 * np.einsum("ljd,jkd->ljk", centroids.reshape(-1, m, 3),
                                                                   books)).astype(np.float32)
    results = {}
    for level in LEVELS:
        _native.set_simd_level(level)
        results[level] = _native.ivf_fs_scan(queries, blocks, block_offsets, offsets, probes, pq.codebooks, metric,
                                             10, centroids=centroids, by_residual=bool(residual),
                                             precomputed=precomputed)
    for level in LEVELS:
        np.testing.assert_array_equal(results[level][0], results["scalar"][0])
        np.testing.assert_array_equal(results[level][1], results["scalar"][1])
    decoded = pq.decode(pack_nibbles(codes))
    if residual:
        decoded = decoded + centroids[np.repeat(np.arange(len(sizes)), sizes)]
    exact = ((decoded[None] - queries[:, None]) ** 2).sum(-1) if metric == "l2" else -(queries @ decoded.T)
    got_d, got_p = results["scalar"]
    spread = np.ptp(exact, axis=1, keepdims=True)
    assert np.all(np.abs(got_d - np.take_along_axis(exact, got_p, 1)) <= 0.02 * spread)


def test_fast_scan_sums_fit_16_bits_at_any_m():
    """Past 257 sub-quantizers, 255 per table could overflow a uint16 sum: the scale shrinks."""
    rng = np.random.default_rng(9)
    m = 600
    lut = rng.normal(size=(m, 16)).astype(np.float32)
    lut[:, 0] -= 10  # a wide span in every table
    codes = np.zeros((32, m), np.uint8)  # the worst: every vector takes each table's maximum
    codes[:16] = lut.argmax(1)
    codes[16:] = rng.integers(0, 16, size=(16, m))
    blocks = _native.fs_pack_blocks(codes)
    for level in LEVELS:
        _native.set_simd_level(level)
        qlut, bias, scale = _native.fs_quantize_lut(lut)
        want = qlut[np.arange(m), codes].sum(1)
        assert want.max() <= 65535
        np.testing.assert_array_equal(_native.fs_accumulate(blocks, m, qlut), want)
        exact = lut[np.arange(m), codes].sum(1)
        assert np.abs(bias + want / scale - exact).max() <= m * 0.5 / scale + 1e-2


def test_flat_kind_scan_equals_direct_distances():
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(100, 9)).astype(np.float32)
    q = rng.normal(size=(3, 9)).astype(np.float32)
    d, p = _native.ivf_scan(KIND_FLAT, q, vectors.view(np.uint8), np.array([0, 100]), np.zeros((3, 1)), "l2", 5)
    np.testing.assert_allclose(d, np.sort(_native.pairwise(q, vectors), axis=1)[:, :5], rtol=1e-6)


@pytest.mark.parametrize("kind,shape", [(KIND_PQ, (6, 256, 4)), (KIND_PQ, (5, 16, 10)), (KIND_RQ, (3, 32, 24))])
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_lookup_tables_agree_bit_for_bit_across_levels_and_with_numpy(kind, shape, metric):
    rng = np.random.default_rng(8)
    books = rng.normal(size=shape).astype(np.float32)
    d = shape[0] * shape[2] if kind == KIND_PQ else shape[2]
    x = rng.normal(size=d).astype(np.float32)
    tables = {}
    for level in LEVELS:
        _native.set_simd_level(level)
        tables[level] = _native.build_lut(kind, x, books, metric)
    for level in LEVELS:
        np.testing.assert_array_equal(tables[level], tables["scalar"])
    if kind == KIND_PQ:
        sub = x.reshape(shape[0], 1, shape[2])
        want = ((sub - books) ** 2).sum(-1) if metric == "l2" else -(sub * books).sum(-1)
    else:
        want = (-2.0 if metric == "l2" else -1.0) * (books @ x)
    np.testing.assert_allclose(tables["scalar"], want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_rerank_keeps_the_exact_best_of_each_shortlist(metric):
    rng = np.random.default_rng(11)
    n, d, nq, s, k = 200, 19, 6, 12, 5
    vectors = rng.normal(size=(n, d)).astype(np.float32)
    vectors[7] = vectors[3]  # a tie: the smaller row wins
    queries = rng.normal(size=(nq, d)).astype(np.float32)
    pos = rng.integers(0, n, size=(nq, s))
    pos[0, :] = [3, 7] + [-1] * (s - 2)  # fewer valid rows than k
    pos[1, 3:] = -1
    pos[2, :2] = [7, 3]
    for level in LEVELS:
        _native.set_simd_level(level)
        got_d, got_p = _native.rerank(queries, vectors, pos, k, metric)
        for q in range(nq):
            rows = np.unique(pos[q][pos[q] >= 0]) if q == 0 else pos[q][pos[q] >= 0]
            exact = ((vectors[rows] - queries[q]) ** 2).sum(1) if metric == "l2" else -(vectors[rows] @ queries[q])
            order = np.lexsort((rows, exact))[:k]
            np.testing.assert_allclose(got_d[q, :len(order)], exact[order], rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(got_p[q, :len(order)], rows[order])
            assert (got_p[q, len(order):] == -1).all() and np.isinf(got_d[q, len(order):]).all()
    with pytest.raises(ValueError):
        _native.rerank(queries, vectors, np.full((nq, s), n), k, metric)


def fs_lists(rng, m: int, sizes) -> tuple:
    """Random 4-bit codes of m sub-quantizers in lists of `sizes`: (offsets, codes, blocks,
    block offsets)."""
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    codes = rng.integers(0, 16, size=(offsets[-1], m)).astype(np.uint8)
    blocks = np.concatenate([_native.fs_pack_blocks(codes[offsets[l]:offsets[l + 1]]) for l in range(len(sizes))])
    block_offsets = np.concatenate([[0], np.cumsum([(s + 31) // 32 for s in sizes])]).astype(np.int64)
    return offsets, codes, blocks, block_offsets


def by_residual(kind: str | None, books: np.ndarray, centroids: np.ndarray) -> dict:
    """ivf_fs_scan's arguments for a search not by residual (None), by residual with tables
    made a (query, list) pair ("direct") or from precomputed list terms ("precomputed")."""
    m, _, dsub = books.shape
    precomputed = ((books.astype(np.float64) ** 2).sum(-1)[None] + 2 * np.einsum(
        "ljd,jkd->ljk", centroids.reshape(-1, m, dsub), books)).astype(np.float32)
    return {None: {}, "direct": dict(centroids=centroids, by_residual=True),
            "precomputed": dict(centroids=centroids, by_residual=True, precomputed=precomputed)}[kind]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("radius,k,metric,residual", [
    (None, 7, "l2", None), (9.0, None, "l2", None), (None, 25, "l2", None), (None, 7, "ip", "direct"),
    (None, 7, "l2", "direct"), (None, 7, "l2", "precomputed"), (40.0, None, "l2", "precomputed")])
def test_fast_scan_batches_of_queries_list_by_list_give_each_query_its_own_results(level, radius, k, metric,
                                                                                   residual):
    """Past 256 queries a call goes list by list over a batch of queries, two queries of a list
    at a time, and three threads share the batches: every query's results (top-k from a heap
    or a reservoir, or every candidate within a radius; by residual, each pair's own tables)
    are those of a search of it alone, and of the whole search on one thread."""
    _native.set_simd_level(level)
    rng = np.random.default_rng(10)
    d, m, sizes = 8, 4, [40, 0, 300, 33, 97]
    offsets, _, blocks, block_offsets = fs_lists(rng, m, sizes)
    books = rng.normal(size=(m, 16, d // m)).astype(np.float32)
    queries = rng.normal(size=(600, d)).astype(np.float32)
    probes = np.stack([rng.permutation(len(sizes))[:3] for _ in range(len(queries))])
    residual = by_residual(residual, books, rng.normal(size=(len(sizes), d)).astype(np.float32))
    batch = _native.ivf_fs_scan(queries, blocks, block_offsets, offsets, probes, books, metric, k, radius=radius,
                                threads=3, **residual)
    one = _native.ivf_fs_scan(queries, blocks, block_offsets, offsets, probes, books, metric, k, radius=radius,
                              **residual)
    for got, want in zip(batch, one):
        np.testing.assert_array_equal(got, want)
    for q in rng.choice(len(queries), 25, replace=False):
        alone = _native.ivf_fs_scan(queries[q:q + 1], blocks, block_offsets, offsets, probes[q:q + 1], books, metric, k,
                                    radius=radius, **residual)
        if radius is None:
            np.testing.assert_array_equal(batch[0][q], alone[0][0])
            np.testing.assert_array_equal(batch[1][q], alone[1][0])
        else:
            lims, dist, pos = batch
            np.testing.assert_array_equal(dist[lims[q]:lims[q + 1]], alone[1])
            np.testing.assert_array_equal(pos[lims[q]:lims[q + 1]], alone[2])


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("k", [1, 2, 5, 8, 9, 16, 17, 20, 33, 40, 41])
def test_fast_scan_top_k_keeps_the_least_distance_id_pairs_through_ties(level, k):
    """Codes of two values over two sub-quantizers: a handful of distinct sums, so most
    candidates tie and the smaller position must win. Every level's top-k (registers from
    k = 2 to 16 with AVX2 and to 40 with AVX-512, a heap or a reservoir elsewhere), over
    several lists a query and two queries sharing a list's loads, is the first k of every
    candidate sorted by (distance, position), as a radius search without a bound returns them."""
    _native.set_simd_level(level)
    rng = np.random.default_rng(12)
    d, m, sizes = 4, 2, [70, 1, 33, 0, 129, 20]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    codes = rng.integers(0, 2, size=(offsets[-1], m)).astype(np.uint8)
    blocks = np.concatenate([_native.fs_pack_blocks(codes[offsets[l]:offsets[l + 1]]) for l in range(len(sizes))])
    block_offsets = np.concatenate([[0], np.cumsum([(s + 31) // 32 for s in sizes])]).astype(np.int64)
    books = rng.normal(size=(m, 16, d // m)).astype(np.float32)
    queries = rng.normal(size=(300, d)).astype(np.float32)
    probes = np.stack([rng.permutation(len(sizes))[:4] for _ in range(len(queries))])
    dist, pos = _native.ivf_fs_scan(queries, blocks, block_offsets, offsets, probes, books, "l2", k, threads=2)
    lims, all_d, all_p = _native.ivf_fs_scan(queries, blocks, block_offsets, offsets, probes, books, "l2",
                                             radius=np.inf)
    for q in range(len(queries)):
        d_q, p_q = all_d[lims[q]:lims[q + 1]], all_p[lims[q]:lims[q + 1]]
        order = np.lexsort((p_q, d_q))[:k]
        assert len(np.unique(d_q)) < len(d_q) // 4  # ties are the rule here
        np.testing.assert_array_equal(dist[q, :len(order)], d_q[order])
        np.testing.assert_array_equal(pos[q, :len(order)], p_q[order])
        assert (pos[q, len(order):] == -1).all()


@pytest.mark.parametrize("threads", [1, 3])
def test_a_scan_job_that_fails_on_one_thread_fails_the_search(threads):
    """A list whose blocks do not match its rows (fast-scan), or a probe past the lists (every
    scan), met by whichever thread takes that batch: the search raises, not returns part of
    its results."""
    rng = np.random.default_rng(11)
    d, m, sizes = 8, 4, [40, 70, 33]
    offsets, _, blocks, block_offsets = fs_lists(rng, m, sizes)
    books = rng.normal(size=(m, 16, d // m)).astype(np.float32)
    queries = rng.normal(size=(600, d)).astype(np.float32)
    probes = np.zeros((len(queries), 1), np.int64)
    probes[500, 0] = 1  # the one query that meets the bad list, in the last batches
    bad_blocks = block_offsets.copy()
    bad_blocks[2] += 1
    with pytest.raises(RuntimeError, match="code -3"):
        _native.ivf_fs_scan(queries, blocks, bad_blocks, offsets, probes, books, "l2", 5, threads=threads)
    probes[500, 0] = len(sizes)
    with pytest.raises(RuntimeError, match="code -2"):
        _native.ivf_fs_scan(queries, blocks, block_offsets, offsets, probes, books, "l2", 5, threads=threads)
    vectors = rng.normal(size=(offsets[-1], d)).astype(np.float32)
    with pytest.raises(RuntimeError, match="code -2"):
        _native.ivf_scan(_native.scan_kind("FLAT"), queries, vectors.view(np.uint8), offsets, probes, "l2", 5,
                         threads=threads)


@pytest.mark.parametrize("metric,residual", [("l2", "precomputed"), ("ip", "direct"), ("l2", None)])
@pytest.mark.parametrize("threads", [1, 3])
def test_fast_scan_that_probes_each_batch_finds_what_a_probe_first_finds(metric, residual, threads):
    """Centroid tiles in place of probes: each batch of queries finds its nprobe nearest lists
    as it is scanned, with the results of probing every query first and scanning after."""
    rng = np.random.default_rng(12)
    d, m, nlist, nprobe = 8, 4, 9, 3
    offsets, _, blocks, block_offsets = fs_lists(rng, m, rng.integers(0, 90, nlist))
    books = rng.normal(size=(m, 16, d // m)).astype(np.float32)
    centroids = rng.normal(size=(nlist, d)).astype(np.float32)
    queries = rng.normal(size=(700, d)).astype(np.float32)
    residual = by_residual(residual, books, centroids)
    tiles = _native.CentroidTiles(centroids, metric)
    probes, _ = tiles.nearest(queries, nprobe)
    want = _native.ivf_fs_scan(queries, blocks, block_offsets, offsets, probes, books, metric, 10, **residual)
    got = _native.ivf_fs_scan(queries, blocks, block_offsets, offsets, None, books, metric, 10, threads=threads,
                              tiles=(tiles, nprobe), **residual)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
