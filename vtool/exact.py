"""Exact k-NN: BLAS inner products in blocks, folded into per-query top-k heaps in C.

Used for ground truth, k-means assignment and the IVF coarse quantizer. Memory is
bounded by the block sizes, whatever the size of the base, which may be streamed.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from vtool import _native
from vtool.workers import map_threads

QUERY_BLOCK = 4096
BASE_BLOCK = 1024
FOLD_ROWS = 64  # queries a folding thread takes at least


def knn_blocks(queries: np.ndarray, base_blocks: Iterable[tuple[int, np.ndarray]], k: int,
               metric: str = "l2", threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (distances, ids) of each query over base rows given as (first id, block) pairs.

    Distances are squared L2, or for "ip" the inner product (largest first). The products
    use BLAS's own threads; folding them into the heaps is split by queries over `threads`
    (default: the cores this process may use), with the same result at any count.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    nq = queries.shape[0]
    top = _native.TopK(nq, k)
    qnorm = _native.norms_sqr(queries) if metric == "l2" else None
    # one product buffer for every block (16 MB): a fresh array each time costs page faults
    # (the kernel zeroing pages) and brings the products back from memory, not from cache
    buf = np.empty(min(nq, QUERY_BLOCK) * BASE_BLOCK, np.float32)
    parts = max(1, min(threads or _native.default_threads(), nq // FOLD_ROWS))

    def fold(ip, id0, q0, bnorm):
        top.add_inner_products(ip, id0, q0, None if qnorm is None else qnorm[q0:q0 + len(ip)], bnorm, metric)

    for id0, block in _sub_blocks(base_blocks):
        bnorm = _native.norms_sqr(block) if metric == "l2" else None
        for q0 in range(0, nq, QUERY_BLOCK):
            q = queries[q0:q0 + QUERY_BLOCK]
            ip = np.matmul(q, block.T, out=buf[:len(q) * len(block)].reshape(len(q), len(block)))
            step = -(-len(q) // parts)
            map_threads(parts, lambda a: fold(ip[a:a + step], id0, q0 + a, bnorm), range(0, len(q), step))
    dist, ids = top.result()
    if metric == "ip":
        dist = -dist
    return dist, ids


def knn(queries: np.ndarray, base: np.ndarray, k: int, metric: str = "l2",
        threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k over an in-memory base."""
    return knn_blocks(queries, [(0, base)], k, metric, threads)


def _sub_blocks(blocks: Iterable[tuple[int, np.ndarray]]) -> Iterator[tuple[int, np.ndarray]]:
    for id0, block in blocks:
        for j in range(0, block.shape[0], BASE_BLOCK):
            yield id0 + j, np.ascontiguousarray(block[j:j + BASE_BLOCK], dtype=np.float32)
