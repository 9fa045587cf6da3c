"""k-means (Lloyd) for coarse quantizers, following Faiss's choices.

Assignment is the fused nearest-centroid kernel (native/assign.c: inner products and the
minimum kept in registers, no n x k matrix); centroid sums are accumulated in C in double
precision. Empty clusters are repaired as Faiss does: split a
cluster picked with probability proportional to its size, the two halves nudged
symmetrically apart.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from vtool import _native, log
from vtool.errors import VtoolError

MIN_POINTS_PER_CENTROID = 39  # below this, Faiss warns too: the centroids follow the sample's noise

SPLIT_EPS = 1.0 / 1024.0
INITS = ("random", "kmeans++")


@dataclass
class KMeansResult:
    centroids: np.ndarray
    objective: list[float]  # sum of squared distances (or -sum of inner products) after each iteration
    splits: int  # empty clusters repaired


def assign(x: np.ndarray, centroids: np.ndarray, metric: str = "l2") -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of each row: (labels int64, distances float32; inner products for ip)."""
    return _native.assign_nearest(x, centroids, metric)


def warn_if_few_points(n: int, k: int, what: str) -> None:
    """The warning Faiss gives for fewer than 39 training points per centroid, with the counts."""
    if n < MIN_POINTS_PER_CENTROID * k:
        log.warning(f"{what}: {n} training points for {k} centroids, {n / k:.1f} per centroid (fewer than "
                    f"{MIN_POINTS_PER_CENTROID}); give more training data (--max-train, a larger input) or fewer "
                    "centroids")


def kmeans(x: np.ndarray, k: int, niter: int = 25, seed: int = 1234, init: str = "random",
           metric: str = "l2", start: np.ndarray | None = None, label: str | None = None) -> KMeansResult:
    """Lloyd's k-means; `start` continues from given centroids (a hot start, as OPQ uses).
    With a label, a progress bar over the iterations (on a terminal)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    if init not in INITS:
        raise VtoolError(f"unknown k-means init {init!r}; choose {' or '.join(INITS)}")
    if n < k:
        raise VtoolError(f"k-means needs at least as many training vectors as clusters ({n} < {k})")
    if niter < 1:
        raise VtoolError("--niter must be at least 1")
    rng = np.random.default_rng(seed)
    if start is not None:
        centroids = np.array(start, dtype=np.float32)
    elif init == "kmeans++":
        centroids = _init_kmeanspp(x, k, rng)
    else:
        centroids = x[np.sort(rng.choice(n, k, replace=False))].copy()
    objective, splits = [], 0
    bar = log.progress(label, niter) if label else contextlib.nullcontext(lambda n: None)
    with bar as advance:
        for _ in range(niter):
            converged, repaired = _lloyd_step(x, centroids, metric, objective, rng)
            splits += repaired
            advance(1)
            if converged:
                break
    return KMeansResult(centroids, objective, splits)


def _lloyd_step(x, centroids, metric, objective, rng) -> tuple[bool, int]:
    """One assignment and update, in place: (converged, empty clusters split)."""
    labels, dist = assign(x, centroids, metric)
    total = float(dist.astype(np.float64).sum())
    objective.append(total if metric == "l2" else -total)
    sums, counts = _native.kmeans_accumulate(x, labels, len(centroids))
    nonempty = counts > 0
    centroids[nonempty] = (sums[nonempty] / counts[nonempty, None]).astype(np.float32)
    repaired = _split_empty(centroids, counts, rng)
    # every point on a centroid (fewer distinct points than clusters, zero variance, or values
    # so small their distances underflow): nothing left to move, and splitting the same
    # clusters again each round would only spin
    return metric == "l2" and total == 0.0, repaired


def _split_empty(centroids: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> int:
    """Give every empty cluster half of a big one (chosen with probability ~ its size)."""
    k = len(counts)
    n = int(counts.sum())
    repaired = 0
    if n <= k:  # nothing big enough to split (duplicate training vectors)
        return 0
    for ci in np.flatnonzero(counts == 0):
        while True:
            cj = int(rng.integers(k))
            if rng.random() * (n - k) < counts[cj] - 1:
                break
        sign = np.where(np.arange(centroids.shape[1]) % 2 == 0, 1.0, -1.0).astype(np.float32)
        base = centroids[cj].copy()
        centroids[ci] = base * (1 + sign * SPLIT_EPS)
        centroids[cj] = base * (1 - sign * SPLIT_EPS)
        counts[ci] = counts[cj] // 2
        counts[cj] -= counts[ci]
        repaired += 1
    return repaired


def _init_kmeanspp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each new centre drawn with probability ~ squared distance."""
    n = x.shape[0]
    centroids = np.empty((k, x.shape[1]), dtype=np.float32)
    centroids[0] = x[rng.integers(n)]
    closest = _native.pairwise(centroids[:1], x)[0].astype(np.float64)
    for i in range(1, k):
        total = closest.sum()
        pick = int(rng.integers(n)) if total <= 0 else int(np.searchsorted(np.cumsum(closest), rng.random() * total))
        centroids[i] = x[min(pick, n - 1)]
        np.minimum(closest, _native.pairwise(centroids[i:i + 1], x)[0], out=closest)
    return centroids


def progressive_kmeans(x: np.ndarray, k: int, steps: int = 10, niter: int = 10, seed: int = 1234) -> np.ndarray:
    """k-means in PCA space on a growing number of leading dimensions, each run starting from
    the last one's centroids (Faiss's progressive-dim clustering, its default for residual
    quantizers): the first, coarse splits follow the directions of largest variance, which
    generalises better than clustering all dimensions from a random start."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    d = x.shape[1]
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd((x - mean).astype(np.float64), full_matrices=False)
    rot = vt.T.astype(np.float32)  # (d, d): columns are principal directions
    xp = np.ascontiguousarray((x - mean) @ rot)
    centroids = None
    for step in range(steps):
        di = min(d, max(1, int(d ** ((1.0 + step) / steps))))
        start = None
        if centroids is not None:
            start = np.zeros((k, di), np.float32)
            start[:, :centroids.shape[1]] = centroids
        centroids = kmeans(np.ascontiguousarray(xp[:, :di]), k, niter=niter, seed=seed + step, start=start).centroids
    full = np.zeros((k, d), np.float32)
    full[:, :centroids.shape[1]] = centroids
    return (full @ rot.T + mean).astype(np.float32)
