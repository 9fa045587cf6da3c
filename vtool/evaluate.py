"""Search quality against ground truth: the library behind `vtool eval`.

Definitions (as big-ann-benchmarks, distance ties included): for query q with
ground-truth ids G and distances D (nearest first), the true set at depth j is
G[:j] extended by every further G[i] with |D[i] - D[j-1]| < 1e-6 (ties with the
j-th neighbour count as correct). Without distances there is no extension.
    k-recall@k   mean over queries of |true set at depth k  ∩  results[:k]| / k
    1-recall@k   fraction of queries whose true set at depth 1 meets results[:k]
    recall@1     1-recall@1
"""

from __future__ import annotations

import os

import numpy as np

from vtool.errors import VtoolError

TIE_EPS = 1e-6
RECALL_NAMES = ("k-recall@k", "1-recall@k", "recall@1")


def _true_sets(gt_ids: np.ndarray, gt_dist: np.ndarray | None, depth: int) -> list[set]:
    sets = []
    for q in range(gt_ids.shape[0]):
        end = depth
        if gt_dist is not None:
            anchor = gt_dist[q, depth - 1]
            while end < gt_ids.shape[1] and abs(gt_dist[q, end] - anchor) < TIE_EPS:
                end += 1
        sets.append(set(gt_ids[q, :end].tolist()))
    return sets


def recalls(ids: np.ndarray, gt_ids: np.ndarray, gt_dist: np.ndarray | None, k: int | None = None) -> dict:
    """k-recall@k, 1-recall@k and recall@1 of results `ids` (n x k) against ground truth."""
    if ids.shape[0] != gt_ids.shape[0]:
        raise VtoolError(f"results have {ids.shape[0]} queries, the ground truth has {gt_ids.shape[0]}")
    k = ids.shape[1] if k is None else k
    if not 1 <= k <= ids.shape[1]:
        raise VtoolError(f"k={k} must be between 1 and the results' k ({ids.shape[1]})")
    if k > gt_ids.shape[1]:
        raise VtoolError(f"the ground truth has {gt_ids.shape[1]} neighbours per query, fewer than k={k}")
    top = ids[:, :k]
    sets_k = _true_sets(gt_ids, gt_dist, k)
    sets_1 = _true_sets(gt_ids, gt_dist, 1)
    hits_k = [len(s.intersection(row.tolist())) for s, row in zip(sets_k, top)]
    found_1 = [bool(s.intersection(row.tolist())) for s, row in zip(sets_1, top)]
    first = [bool(s.intersection(row[:1].tolist())) for s, row in zip(sets_1, top)]
    return {"k": k, "queries": int(ids.shape[0]),
            "k-recall@k": float(np.sum(hits_k) / (k * len(top))) if len(top) else 0.0,
            "1-recall@k": float(np.mean(found_1)) if len(top) else 0.0,
            "recall@1": float(np.mean(first)) if len(top) else 0.0}


def index_size(index_path: str) -> dict:
    from vtool.index.container import VtiFile

    f = VtiFile(index_path)
    n = int(f.header.get("ntotal", 0))
    total = os.path.getsize(index_path)
    sizes = f.section_sizes()
    return {"index_bytes": total, "bytes_per_vector": total / n if n else None,
            "id_bits_per_vector": 8 * sizes.get("ids", 0) / n if n else None}
