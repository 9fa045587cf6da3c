"""Exact ground truth: the library behind `vtool gt`. The base streams in batches; the
queries and their candidates stay in memory (n_queries x (2k + 16) x 12 bytes, three times
that during the BLAS pass: its top-k collects in reservoirs of twice the shortlist).

A BLAS pass keeps 2k + 16 candidates a query (float32 inner products: their rounding depends
on the block shapes, so on --batch-size, and on the BLAS build); a second pass over the base
computes the candidates' distances in float64 and keeps the k best (ties to the smaller id).
A query whose k-th exact distance lies within twice the float32 error bound of its last
candidate's goes again with four times the candidates. So the result is the same for any
batch size, thread count or SIMD level (up to float64 rounding).

With --dask the base is cut into row ranges, each run by a worker as above (the queries sent
to every worker once); the client merges the ranges' candidates, so the result is the same
as a local run's. Range ground truth works the same way: each range's results, merged."""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, replace

import numpy as np

from vtool import log, memory
from vtool.distributed import DaskOptions
from vtool.errors import VtoolError
from vtool.exact import knn_blocks
from vtool.io.vectors import open_vectors
from vtool.workers import row_ranges

SHORTLIST_EXTRA = 16  # candidates kept beyond 2k by the BLAS pass, then ranked exactly
PAIRS_AT_ONCE = 65536
RANGE_QUERY_BLOCK = 1024  # queries against one base batch at a time (bounds the distance matrix)


def ground_truth(base_path: str, queries_path: str, k: int = 100, metric: str | None = None,
                 batch_size: int = 65536, fmt: str | None = None, column: str | None = None,
                 id_column: str | None = None, dask: DaskOptions | None = None):
    """Returns (distances, ids, report) of the exact top-k of every query: ids are base row
    numbers, or the base's `id_column` (Parquet) values, as an index with those ids returns
    them. dask: the base in row ranges on a Dask cluster, each range's candidates merged
    here; the result is the local one."""
    base, queries, metric, inner = _open(base_path, queries_path, metric, fmt, column, id_column)
    if k < 1:
        raise VtoolError("k must be at least 1")
    if k > base.n:
        raise VtoolError(f"k={k} is larger than the number of base vectors ({base.n})")
    source = _BaseSource(base.path, base.format, base.column, id_column, base.normalize)
    batch_size = memory.rows(3 * 4 * base.d, batch_size)
    t0 = time.perf_counter()
    with _blocks_runner(dask, base.n, batch_size) as run:
        shortlist = min(base.n, 2 * k + SHORTLIST_EXTRA)
        pending = np.arange(len(queries))
        dist = np.empty((len(queries), k), np.float32)
        ids = np.empty((len(queries), k), np.int64)
        while len(pending):  # a query whose shortlist could miss a neighbour goes again, longer
            q = queries[pending]
            parts = run(candidate_block, "ground truth", source, shortlist=shortlist, metric=inner,
                        batch_size=batch_size, queries=q)
            d_k, i_k, safe = _exact_top(parts, k, inner, q)
            dist[pending[safe]], ids[pending[safe]] = d_k[safe], i_k[safe]
            pending, shortlist = pending[~safe], min(base.n, 4 * shortlist)
    seconds = time.perf_counter() - t0
    return dist, ids, {"queries": len(queries), "base": base.n, "k": k, "metric": metric, "seconds": seconds}


@dataclass(frozen=True)
class _BaseSource:
    """How a task opens the base (a path every worker resolves)."""

    path: str
    fmt: str
    column: str | None
    id_column: str | None
    normalize: bool

    def rows(self, a: int, b: int):
        return open_vectors(self.path, self.fmt, self.column, self.id_column, normalize=self.normalize) \
            .rows_between(a, b)


def _open(base_path, queries_path, metric, fmt, column, id_column):
    """(base file, queries array, metric, the metric computed: ip for cosine), all checked."""
    from vtool.commands.build import metric_for

    metric, _ = metric_for(base_path, metric, fmt)
    if metric not in ("l2", "ip", "cosine"):
        raise VtoolError(f"unknown metric {metric!r}; choose l2, ip or cosine")
    cosine = metric == "cosine"  # inner products of rows scaled to unit length
    base = open_vectors(base_path, fmt, column, id_column, normalize=cosine)
    qf = open_vectors(queries_path, fmt, column, normalize=cosine, queries=True)
    if qf.d != base.d:
        raise VtoolError(f"{queries_path}: queries have dimension {qf.d}, the base has {base.d}")
    return base, qf.read_all(), metric, "ip" if cosine else metric


@contextlib.contextmanager
def _blocks_runner(dask: DaskOptions | None, n: int, batch_size: int):
    """run(fn, label, source, **args) -> [fn(source, a, b, **args) for each block of the base]:
    one block here, or row ranges on a Dask cluster (the queries sent to each worker once)."""
    if dask is None:
        yield lambda fn, label, source, **args: [fn(source, 0, n, **args)]
        return
    from vtool import distributed

    with distributed.cluster(dask) as cluster:
        ranges = row_ranges(n, cluster.workers * dask.tasks_per_worker, 1)

        def run(fn, label, source, queries, **args):
            tasks = [(replace(source, path=distributed.worker_path(source.path)), a, b) for a, b in ranges]
            done = dict(cluster.map(functools.partial(fn, **args), tasks, label, sizes=[b - a for a, b in ranges],
                                    queries=queries))
            return [done[i] for i in range(len(tasks))]

        yield run


def candidate_block(source: _BaseSource, a: int, b: int, shortlist: int, metric: str, batch_size: int,
                    queries: np.ndarray) -> dict:
    """The shortlist of every query among base rows [a, b) by BLAS distances, their exact
    float64 distances (and ids), and the cutoff: no row left out is nearer by BLAS."""
    base = source.rows(a, b)
    shortlist = min(shortlist, b - a)
    top_norm = [0.0]
    with log.progress("ground truth", b - a) as advance:
        def blocks():
            for start, batch, _ in base.batches(batch_size):
                top_norm[0] = max(top_norm[0], float(np.einsum("ij,ij->i", batch, batch).max()))
                yield start, batch
                advance(len(batch))
        approx, rows = knn_blocks(queries, blocks(), shortlist, metric)
    exact, ids = exact_distances_by_row(queries, rows, base, metric, batch_size)
    if shortlist == b - a:  # every row is a candidate
        cutoff = np.full(len(queries), np.inf)
    else:
        cutoff = approx.max(axis=1) if metric == "l2" else -approx.min(axis=1)
    return {"rows": rows, "exact": exact, "ids": ids, "cutoff": cutoff, "top_norm": top_norm[0]}


def exact_distances_by_row(queries: np.ndarray, rows: np.ndarray, base, metric: str, batch_size: int):
    """float64 distances (squared L2, or inner products) of each query to its candidate rows,
    the base streamed once more; float64 sums of float32 products, so the result does not
    depend on batch sizes, BLAS blocking or the SIMD level. Also the rows' ids when the base
    has an id column (else None)."""
    flat = rows.ravel()
    order = np.argsort(flat, kind="stable")
    sorted_rows = flat[order]
    out = np.empty(flat.size, np.float64)
    ids = np.empty(flat.size, np.int64) if base.id_column else None
    pairs = memory.rows(4 * 8 * queries.shape[1], PAIRS_AT_ONCE)
    for start, batch, batch_ids in base.batches(batch_size):
        lo, hi = np.searchsorted(sorted_rows, [start, start + len(batch)])
        for a in range(lo, hi, pairs):
            sel = order[a:min(hi, a + pairs)]
            v = batch[flat[sel] - start].astype(np.float64)
            q = queries[sel // rows.shape[1]].astype(np.float64)
            out[sel] = np.einsum("ij,ij->i", q - v, q - v) if metric == "l2" else np.einsum("ij,ij->i", q, v)
            if ids is not None:
                ids[sel] = batch_ids[flat[sel] - start]
    return out.reshape(rows.shape), None if ids is None else ids.reshape(rows.shape)


def _exact_top(parts: list[dict], k: int, metric: str, queries):
    """The k best candidates of all blocks by exact distance (ties to the smaller row), as ids,
    and whether each query's shortlists were long enough: every row left out of a block was
    beyond its cutoff, and the exact k-th is nearer than every cutoff by more than twice the
    float32 error bound, so no row left out can be better."""
    rows = np.concatenate([p["rows"] for p in parts], axis=1)
    exact = np.concatenate([p["exact"] for p in parts], axis=1)
    key = exact if metric == "l2" else -exact
    best = np.lexsort((rows, key), axis=-1)[:, :k]
    d_k = np.take_along_axis(exact, best, 1).astype(np.float32)
    if parts[0]["ids"] is not None:
        i_k = np.take_along_axis(np.concatenate([p["ids"] for p in parts], axis=1), best, 1)
    else:
        i_k = np.take_along_axis(rows, best, 1)
    cutoff = np.min([p["cutoff"] for p in parts], axis=0)
    top_norm = max(p["top_norm"] for p in parts)
    d = queries.shape[1]
    qn = np.einsum("ij,ij->i", queries, queries).astype(np.float64)
    error = 4 * d * 2.0 ** -24 * (qn + top_norm + 2 * np.sqrt(qn * top_norm))  # |x - y|^2 or x.y in float32
    kth = np.take_along_axis(key, best[:, -1:], 1)[:, 0]
    return d_k, i_k, kth + 2 * error < cutoff


def range_ground_truth(base_path: str, queries_path: str, radius: float, metric: str | None = None,
                       batch_size: int = 65536, fmt: str | None = None, column: str | None = None,
                       id_column: str | None = None, dask: DaskOptions | None = None):
    """Every base vector within radius of each query (squared L2 <= radius; inner product >=
    radius for ip / cosine), exactly: BLAS distances pick the candidates within the float32
    error bound of the radius, float64 distances decide. Returns (lims, ids, distances,
    report), each query's results nearest first (ties to the smaller id)."""
    from vtool.commands.build import metric_for

    metric, _ = metric_for(base_path, metric, fmt)
    if metric in ("l2", "ip", "cosine") and (not np.isfinite(radius) or (metric == "l2" and radius < 0)):
        raise VtoolError(f"--radius must be a finite number{' >= 0 (a squared L2 distance)' if metric == 'l2' else ''}, "
                         f"got {radius}")
    base, queries, metric, inner = _open(base_path, queries_path, metric, fmt, column, id_column)
    source = _BaseSource(base.path, base.format, base.column, id_column, base.normalize)
    batch_size = memory.rows(3 * 4 * base.d + 8 * min(len(queries), RANGE_QUERY_BLOCK), batch_size)
    t0 = time.perf_counter()
    with _blocks_runner(dask, base.n, batch_size) as run:
        parts = run(range_block, "range ground truth", source, radius=radius, metric=inner, batch_size=batch_size,
                    queries=queries)
    q_of, ids, dist = (np.concatenate([p[i] for p in parts]) for i in range(3))
    order = np.lexsort((ids, dist if inner == "l2" else -dist, q_of))
    lims = np.zeros(len(queries) + 1, np.int64)
    np.cumsum(np.bincount(q_of, minlength=len(queries)), out=lims[1:])
    seconds = time.perf_counter() - t0
    report = {"queries": len(queries), "base": base.n, "radius": radius, "metric": metric, "results": int(lims[-1]),
              "results_per_query": float(lims[-1] / max(len(queries), 1)),
              "queries_without_results": int((np.diff(lims) == 0).sum()), "seconds": seconds}
    return lims, ids[order], dist[order].astype(np.float32), report


def range_block(source: _BaseSource, a: int, b: int, radius: float, metric: str, batch_size: int,
                queries: np.ndarray):
    """(query numbers, ids, float64 distances) of the base rows [a, b) within radius."""
    q64 = queries.astype(np.float64)
    qn = np.einsum("ij,ij->i", queries, queries)
    found_q, found_id, found_d = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    with log.progress("range ground truth", b - a) as advance:
        for start, batch, batch_ids in source.rows(a, b).batches(batch_size):
            bn = np.einsum("ij,ij->i", batch, batch)
            error = 4 * batch.shape[1] * 2.0 ** -24 * (qn[:, None] + bn[None, :]
                                                       + 2 * np.sqrt(qn[:, None] * bn[None, :]))
            for lo in range(0, len(queries), RANGE_QUERY_BLOCK):
                hi = min(len(queries), lo + RANGE_QUERY_BLOCK)
                ip = queries[lo:hi] @ batch.T
                if metric == "l2":
                    near = qn[lo:hi, None] + bn[None, :] - 2 * ip <= radius + error[lo:hi]
                else:
                    near = ip >= radius - error[lo:hi]
                qi, bi = np.nonzero(near)
                if not len(qi):
                    continue
                v = batch[bi].astype(np.float64)
                exact = np.einsum("ij,ij->i", q64[lo + qi] - v, q64[lo + qi] - v) if metric == "l2" \
                    else np.einsum("ij,ij->i", q64[lo + qi], v)
                keep = exact <= radius if metric == "l2" else exact >= radius
                found_q.append(lo + qi[keep])
                found_id.append(batch_ids[bi[keep]].astype(np.int64) if batch_ids is not None else start + bi[keep])
                found_d.append(exact[keep])
            advance(len(batch))
    return np.concatenate(found_q), np.concatenate(found_id), np.concatenate(found_d)
