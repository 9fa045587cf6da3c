"""Exact ground truth: the library behind `vtool gt`. The base streams in batches;
the queries and their k-best heaps stay in memory (n_queries x k x 12 bytes)."""

from __future__ import annotations

import time

from vtool import log
from vtool.errors import VtoolError
from vtool.exact import knn_blocks
from vtool.io.vectors import open_vectors


def ground_truth(base_path: str, queries_path: str, k: int = 100, metric: str = "l2",
                 batch_size: int = 65536, fmt: str | None = None, column: str | None = None):
    """Returns (distances, ids, report) of the exact top-k of every query."""
    base = open_vectors(base_path, fmt, column)
    qf = open_vectors(queries_path, fmt, column)
    if qf.d != base.d:
        raise VtoolError(f"{queries_path}: queries have dimension {qf.d}, the base has {base.d}")
    if k < 1:
        raise VtoolError("k must be at least 1")
    if k > base.n:
        raise VtoolError(f"k={k} is larger than the number of base vectors ({base.n})")
    if metric not in ("l2", "ip"):
        raise VtoolError(f"unknown metric {metric!r}; choose l2 or ip")
    queries = qf.read_all()
    t0 = time.perf_counter()
    with log.progress("ground truth", base.n) as advance:
        def blocks():
            for start, batch, _ in base.batches(batch_size):
                yield start, batch
                advance(len(batch))
        dist, ids = knn_blocks(queries, blocks(), k, metric)
    seconds = time.perf_counter() - t0
    return dist, ids, {"queries": len(queries), "base": base.n, "k": k, "metric": metric, "seconds": seconds}
