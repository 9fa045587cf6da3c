"""The refiner part: `,RFlat` keeps the raw vectors (section `refine`, float32 (N, d), in row
order) and re-ranks a search's shortlist with exact distances. The same re-ranking serves
`search --refine FILE` (vectors indexed by id instead of by row)."""

from __future__ import annotations

import numpy as np

from vtool.errors import VtoolError

DEFAULT_K_FACTOR = 4


class RFlat:
    pattern = "RFlat"
    sections = ("refine",)

    def __init__(self, d: int, vectors: np.ndarray | None = None):
        self.d = d
        self.vectors = vectors if vectors is not None else np.zeros((0, d), np.float32)

    @classmethod
    def token(cls) -> str:
        return "RFlat"

    def check(self, ntotal: int) -> str | None:
        v = self.vectors
        if v.dtype != np.float32 or v.shape != (ntotal, self.d):
            return f"section 'refine' should be float32 {(ntotal, self.d)}"
        return None


def rerank(queries: np.ndarray, dist: np.ndarray, pos: np.ndarray, k: int, metric: str, vectors_of) -> tuple:
    """Exact distances for the shortlist (rows pos), best k kept (ties to the smaller row).

    vectors_of(rows) returns the raw vectors of valid rows (n, d)."""
    valid = pos >= 0
    safe = np.maximum(pos, 0)
    vecs = vectors_of(safe)
    exact = exact_distances(queries, vecs, metric)
    exact = np.where(valid, exact, np.inf).astype(np.float32)
    order = np.lexsort((np.where(valid, pos, np.iinfo(np.int64).max), exact), axis=1)[:, :k]
    return np.take_along_axis(exact, order, 1), np.take_along_axis(pos, order, 1)


def exact_distances(queries: np.ndarray, vecs: np.ndarray, metric: str) -> np.ndarray:
    """Minimised distances of each query (nq, d) to its own vectors (nq, n, d)."""
    if metric == "ip":
        return -np.einsum("qkd,qd->qk", vecs, queries)
    diff = vecs - queries[:, None, :]
    return np.einsum("qkd,qkd->qk", diff, diff)


def vectors_by_id(vectors, ids_of, shape) -> np.ndarray:
    """Raw vectors of rows through their ids (`search --refine FILE`: row number = id)."""
    def get(rows):
        ids = ids_of(rows.ravel()).reshape(rows.shape)
        if ids.max(initial=0) >= len(vectors):
            raise VtoolError(f"--refine vectors have {len(vectors)} rows; the index holds id {int(ids.max())}")
        return np.asarray(vectors[ids], dtype=np.float32)
    return get
