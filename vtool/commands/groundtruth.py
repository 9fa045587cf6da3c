"""Exact ground truth: the library behind `vtool gt`. The base streams in batches; the
queries and their heaps stay in memory (n_queries x (2k + 16) x 12 bytes).

A BLAS pass keeps 2k + 16 candidates a query (float32 inner products: their rounding depends
on the block shapes, so on --batch-size, and on the BLAS build); a second pass over the base
computes the candidates' distances in float64 and keeps the k best (ties to the smaller id).
A query whose k-th exact distance lies within twice the float32 error bound of its last
candidate's goes again with four times the candidates. So the result is the same for any
batch size, thread count or SIMD level (up to float64 rounding)."""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from vtool import log
from vtool.io.atomic import open_memmap, owner_tag
from vtool.errors import VtoolError
from vtool.exact import knn_blocks
from vtool.io.vectors import open_vectors

SHORTLIST_EXTRA = 16  # candidates kept beyond 2k by the BLAS pass, then ranked exactly
PAIRS_AT_ONCE = 65536
RANGE_QUERY_BLOCK = 1024  # queries against one base batch at a time (bounds the distance matrix)


def ground_truth(base_path: str, queries_path: str, k: int = 100, metric: str | None = None,
                 batch_size: int = 65536, fmt: str | None = None, column: str | None = None,
                 id_column: str | None = None):
    """Returns (distances, ids, report) of the exact top-k of every query: ids are base row
    numbers, or the base's `id_column` (Parquet) values, as an index with those ids returns
    them (kept on disk in $TMPDIR during the pass, 8 bytes a row)."""
    from vtool.commands.build import metric_for

    metric, note = metric_for(base_path, metric, fmt)
    if metric not in ("l2", "ip", "cosine"):
        raise VtoolError(f"unknown metric {metric!r}; choose l2, ip or cosine")
    cosine = metric == "cosine"  # inner products of rows scaled to unit length
    base = open_vectors(base_path, fmt, column, id_column, normalize=cosine)
    qf = open_vectors(queries_path, fmt, column, normalize=cosine, queries=True)
    if qf.d != base.d:
        raise VtoolError(f"{queries_path}: queries have dimension {qf.d}, the base has {base.d}")
    if k < 1:
        raise VtoolError("k must be at least 1")
    if k > base.n:
        raise VtoolError(f"k={k} is larger than the number of base vectors ({base.n})")
    queries = qf.read_all()
    inner = "ip" if cosine else metric
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="." + owner_tag("vtool-gt")) as scratch:
        id_of_row = open_memmap(os.path.join(scratch, "ids.npy"), np.int64, (base.n,)) if id_column else None
        shortlist = min(base.n, 2 * k + SHORTLIST_EXTRA)
        pending = np.arange(len(queries))
        dist = np.empty((len(queries), k), np.float32)
        ids = np.empty((len(queries), k), np.int64)
        while len(pending):  # a query whose shortlist could miss a neighbour goes again, longer
            q = queries[pending]
            top_norm = [0.0]
            with log.progress("ground truth", base.n) as advance:
                def blocks():
                    for start, batch, batch_ids in base.batches(batch_size):
                        if id_of_row is not None:
                            id_of_row[start:start + len(batch)] = batch_ids
                        top_norm[0] = max(top_norm[0], float(np.einsum("ij,ij->i", batch, batch).max()))
                        yield start, batch
                        advance(len(batch))
                approx, rows = knn_blocks(q, blocks(), shortlist, inner)
            exact = exact_distances_by_row(q, rows, base, inner, batch_size)
            d_k, i_k, safe = _exact_top(exact, rows, approx, k, inner, q, top_norm[0], shortlist == base.n)
            dist[pending[safe]], ids[pending[safe]] = d_k[safe], i_k[safe]
            pending, shortlist = pending[~safe], min(base.n, 4 * shortlist)
        if id_of_row is not None:
            ids = np.where(ids >= 0, id_of_row[np.maximum(ids, 0)], -1)
            del id_of_row
    seconds = time.perf_counter() - t0
    return dist, ids, {"queries": len(queries), "base": base.n, "k": k, "metric": metric, "seconds": seconds}


def exact_distances_by_row(queries: np.ndarray, rows: np.ndarray, base, metric: str, batch_size: int) -> np.ndarray:
    """float64 distances (squared L2, or inner products) of each query to its candidate rows,
    the base streamed once more; float64 sums of float32 products, so the result does not
    depend on batch sizes, BLAS blocking or the SIMD level."""
    flat = rows.ravel()
    order = np.argsort(flat, kind="stable")
    sorted_rows = flat[order]
    out = np.empty(flat.size, np.float64)
    for start, batch, _ in base.batches(batch_size):
        lo, hi = np.searchsorted(sorted_rows, [start, start + len(batch)])
        for a in range(lo, hi, PAIRS_AT_ONCE):
            sel = order[a:min(hi, a + PAIRS_AT_ONCE)]
            v = batch[flat[sel] - start].astype(np.float64)
            q = queries[sel // rows.shape[1]].astype(np.float64)
            out[sel] = np.einsum("ij,ij->i", q - v, q - v) if metric == "l2" else np.einsum("ij,ij->i", q, v)
    return out.reshape(rows.shape)


def _exact_top(exact, rows, approx, k: int, metric: str, queries, top_norm: float, complete: bool):
    """The k best candidates by exact distance (ties to the smaller row), and whether each
    query's shortlist was long enough: every row left out had an approximate distance beyond
    the exact k-th by more than twice the float32 error bound, so it cannot be better."""
    key = exact if metric == "l2" else -exact
    best = np.lexsort((rows, key), axis=-1)[:, :k]
    d_k = np.take_along_axis(exact, best, 1).astype(np.float32)
    i_k = np.take_along_axis(rows, best, 1)
    if complete:
        return d_k, i_k, np.ones(len(rows), bool)
    d = queries.shape[1]
    qn = np.einsum("ij,ij->i", queries, queries).astype(np.float64)
    error = 4 * d * 2.0 ** -24 * (qn + top_norm + 2 * np.sqrt(qn * top_norm))  # |x - y|^2 or x.y in float32
    cutoff = approx.max(axis=1) if metric == "l2" else -approx.min(axis=1)
    kth = np.take_along_axis(key, best[:, -1:], 1)[:, 0]
    return d_k, i_k, kth + 2 * error < cutoff


def range_ground_truth(base_path: str, queries_path: str, radius: float, metric: str | None = None,
                       batch_size: int = 65536, fmt: str | None = None, column: str | None = None,
                       id_column: str | None = None):
    """Every base vector within radius of each query (squared L2 <= radius; inner product >=
    radius for ip / cosine), exactly: BLAS distances pick the candidates within the float32
    error bound of the radius, float64 distances decide. Returns (lims, ids, distances,
    report), each query's results nearest first (ties to the smaller id)."""
    from vtool.commands.build import metric_for

    metric, _ = metric_for(base_path, metric, fmt)
    if metric not in ("l2", "ip", "cosine"):
        raise VtoolError(f"unknown metric {metric!r}; choose l2, ip or cosine")
    if not np.isfinite(radius) or (metric == "l2" and radius < 0):
        raise VtoolError(f"--radius must be a finite number{' >= 0 (a squared L2 distance)' if metric == 'l2' else ''}, "
                         f"got {radius}")
    cosine = metric == "cosine"
    inner = "ip" if cosine else metric
    base = open_vectors(base_path, fmt, column, id_column, normalize=cosine)
    qf = open_vectors(queries_path, fmt, column, normalize=cosine, queries=True)
    if qf.d != base.d:
        raise VtoolError(f"{queries_path}: queries have dimension {qf.d}, the base has {base.d}")
    queries = qf.read_all()
    q64 = queries.astype(np.float64)
    qn = np.einsum("ij,ij->i", queries, queries)
    found_q, found_id, found_d = [], [], []
    t0 = time.perf_counter()
    with log.progress("range ground truth", base.n) as advance:
        for start, batch, batch_ids in base.batches(batch_size):
            bn = np.einsum("ij,ij->i", batch, batch)
            error = 4 * base.d * 2.0 ** -24 * (qn[:, None] + bn[None, :] + 2 * np.sqrt(qn[:, None] * bn[None, :]))
            for a in range(0, len(queries), RANGE_QUERY_BLOCK):
                b = min(len(queries), a + RANGE_QUERY_BLOCK)
                ip = queries[a:b] @ batch.T
                if inner == "l2":
                    near = qn[a:b, None] + bn[None, :] - 2 * ip <= radius + error[a:b]
                else:
                    near = ip >= radius - error[a:b]
                qi, bi = np.nonzero(near)
                if not len(qi):
                    continue
                v = batch[bi].astype(np.float64)
                exact = np.einsum("ij,ij->i", q64[a + qi] - v, q64[a + qi] - v) if inner == "l2" \
                    else np.einsum("ij,ij->i", q64[a + qi], v)
                keep = exact <= radius if inner == "l2" else exact >= radius
                found_q.append(a + qi[keep])
                found_id.append(batch_ids[bi[keep]] if batch_ids is not None else start + bi[keep])
                found_d.append(exact[keep])
            advance(len(batch))
    q_of = np.concatenate(found_q) if found_q else np.zeros(0, np.int64)
    ids = np.concatenate(found_id).astype(np.int64) if found_id else np.zeros(0, np.int64)
    dist = np.concatenate(found_d) if found_d else np.zeros(0)
    order = np.lexsort((ids, dist if inner == "l2" else -dist, q_of))
    lims = np.zeros(len(queries) + 1, np.int64)
    np.cumsum(np.bincount(q_of, minlength=len(queries)), out=lims[1:])
    seconds = time.perf_counter() - t0
    report = {"queries": len(queries), "base": base.n, "radius": radius, "metric": metric, "results": int(lims[-1]),
              "results_per_query": float(lims[-1] / max(len(queries), 1)),
              "queries_without_results": int((np.diff(lims) == 0).sum()), "seconds": seconds}
    return lims, ids[order], dist[order].astype(np.float32), report
