"""The refiner part: `,RFlat` keeps the raw vectors (section `refine`, float32 (N, d), in row
order) and re-ranks a search's shortlist with exact distances. The same re-ranking serves
`search --refine FILE` (vectors indexed by id instead of by row)."""

from __future__ import annotations

import numpy as np

from vtool import _native
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


def rerank(queries: np.ndarray, pos: np.ndarray, k: int, metric: str, source) -> tuple:
    """Exact distances for the shortlist (rows pos, -1 = none), best k kept (ties to the smaller row).

    source: the raw vectors by row, (N, d) float32 read in place (RFlat's mapped section), or
    a function of rows giving their vectors (nq, s, d)."""
    if isinstance(source, np.ndarray):
        return _native.rerank(queries, source, pos, k, metric)
    pos = np.sort(pos, axis=1)  # local order = row order, so ties still go to the smaller row
    vecs = source(np.maximum(pos, 0)).reshape(-1, queries.shape[1])
    local = np.where(pos >= 0, np.arange(pos.size).reshape(pos.shape), -1)
    dist, at = _native.rerank(queries, vecs, local, k, metric)
    return dist, np.where(at >= 0, pos.ravel()[np.maximum(at, 0)], -1)


def gather(source):
    """rows -> their raw vectors, for either kind of source."""
    return (lambda rows: source[rows]) if isinstance(source, np.ndarray) else source


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
