"""Exact ground truth: the library behind `vtool gt`. The base streams in batches;
the queries and their k-best heaps stay in memory (n_queries x k x 12 bytes)."""

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


def ground_truth(base_path: str, queries_path: str, k: int = 100, metric: str = "l2",
                 batch_size: int = 65536, fmt: str | None = None, column: str | None = None,
                 id_column: str | None = None):
    """Returns (distances, ids, report) of the exact top-k of every query: ids are base row
    numbers, or the base's `id_column` (Parquet) values, as an index with those ids returns
    them (kept on disk in $TMPDIR during the pass, 8 bytes a row)."""
    if metric not in ("l2", "ip", "cosine"):
        raise VtoolError(f"unknown metric {metric!r}; choose l2, ip or cosine")
    cosine = metric == "cosine"  # inner products of rows scaled to unit length
    base = open_vectors(base_path, fmt, column, id_column, normalize=cosine)
    qf = open_vectors(queries_path, fmt, column, normalize=cosine)
    if qf.d != base.d:
        raise VtoolError(f"{queries_path}: queries have dimension {qf.d}, the base has {base.d}")
    if k < 1:
        raise VtoolError("k must be at least 1")
    if k > base.n:
        raise VtoolError(f"k={k} is larger than the number of base vectors ({base.n})")
    queries = qf.read_all()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="." + owner_tag("vtool-gt")) as scratch:
        id_of_row = open_memmap(os.path.join(scratch, "ids.npy"), np.int64, (base.n,)) if id_column else None
        with log.progress("ground truth", base.n) as advance:
            def blocks():
                for start, batch, batch_ids in base.batches(batch_size):
                    if id_of_row is not None:
                        id_of_row[start:start + len(batch)] = batch_ids
                    yield start, batch
                    advance(len(batch))
            dist, ids = knn_blocks(queries, blocks(), k, "ip" if cosine else metric)
        if id_of_row is not None:
            ids = np.where(ids >= 0, id_of_row[np.maximum(ids, 0)], -1)
            del id_of_row
    seconds = time.perf_counter() - t0
    return dist, ids, {"queries": len(queries), "base": base.n, "k": k, "metric": metric, "seconds": seconds}
