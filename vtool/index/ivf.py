"""The index structure: an inverted file of raw vectors (Flat is the one-list case).

Sections of an index file:
    centroids     float32 (nlist, d)   coarse quantizer (absent for Flat)
    list_offsets  int64 (nlist + 1)    list l holds rows list_offsets[l] .. list_offsets[l+1]-1
    vectors       float32 (N, d)       the rows, grouped by list
    ids           int64 (N)            user id of each row (the id codec "int64")

A search scans (list, row) positions and maps only the final top-k rows to ids.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from vtool import _native, log
from vtool.errors import VtoolError
from vtool.exact import knn
from vtool.index.container import VtiFile
from vtool.index.spec import IndexSpec, parse_spec

SEARCH_SECTIONS = ("centroids", "list_offsets", "vectors", "ids")
DEFAULT_NPROBE = 16
QUERY_CHUNK = 256


@dataclass
class Index:
    spec: IndexSpec
    d: int
    metric: str
    centroids: np.ndarray | None
    list_offsets: np.ndarray
    vectors: np.ndarray
    ids: np.ndarray
    header: dict
    path: str | None = None

    @property
    def ntotal(self) -> int:
        return int(self.list_offsets[-1])

    @property
    def nlist(self) -> int:
        return len(self.list_offsets) - 1

    @property
    def list_sizes(self) -> np.ndarray:
        return np.diff(self.list_offsets)

    @property
    def is_trained(self) -> bool:
        return self.spec.nlist is None or self.centroids is not None

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None, threads: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (distances, ids) of each query; -1 / inf where fewer than k rows were scanned."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.shape[1] != self.d:
            raise VtoolError(f"queries have dimension {queries.shape[1]}, the index has {self.d}")
        if k < 1:
            raise VtoolError("k must be at least 1")
        if k > self.ntotal:
            raise VtoolError(f"k={k} is larger than the number of indexed vectors ({self.ntotal})")
        if self.spec.nlist is None:
            probes = np.zeros((len(queries), 1), dtype=np.int64)
        else:
            nprobe = clamp_nprobe(nprobe, self.nlist)
            if nprobe == 1:
                probes = _native.assign_nearest(queries, self.centroids, self.metric, threads)[0][:, None]
            else:
                _, probes = knn(queries, self.centroids, nprobe, self.metric)
        dist, pos = self._scan(queries, probes, k, threads)
        ids = np.where(pos >= 0, self.ids[np.maximum(pos, 0)], -1)
        if self.metric == "ip":
            dist = np.where(pos >= 0, -dist, -np.inf).astype(np.float32)
        return dist, ids

    def _scan(self, queries, probes, k, threads):
        chunks = [(i, min(i + QUERY_CHUNK, len(queries))) for i in range(0, len(queries), QUERY_CHUNK)]

        def run(bounds):
            a, b = bounds
            return _native.ivf_flat_scan(queries[a:b], self.vectors, self.list_offsets, probes[a:b],
                                         self.metric, k)

        if threads > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(threads) as pool:  # cffi releases the GIL in C calls
                parts = list(pool.map(run, chunks))
        else:
            parts = [run(c) for c in chunks]
        if not parts:
            return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def clamp_nprobe(nprobe: int | None, nlist: int) -> int:
    """nprobe above nlist is clamped (with a warning): probing every list is the most it can mean.

    None means the default, min(16, nlist), without a warning."""
    if nprobe is None:
        return min(DEFAULT_NPROBE, nlist)
    if nprobe < 1:
        raise VtoolError("--nprobe must be at least 1")
    if nprobe > nlist:
        log.warning(f"nprobe {nprobe} is larger than the number of lists ({nlist}); using {nlist}")
        return nlist
    return nprobe


def load_index(path: str, verify: bool = True) -> Index:
    """Open a .vti model or index by memory map; verify checksums unless told not to."""
    f = VtiFile(path)
    h = f.header
    try:
        spec = parse_spec(h["spec"])
        d, metric = int(h["d"]), h["metric"]
    except (KeyError, TypeError, ValueError):
        raise VtoolError(f"{path}: corrupt index: header lacks spec, d or metric") from None
    if h.get("kind") not in ("model", "index"):
        raise VtoolError(f"{path}: not a vtool model or index")
    if verify:
        f.verify([s for s in SEARCH_SECTIONS if s in f.sections])
    centroids = f.array("centroids") if "centroids" in f.sections else None
    list_offsets = f.array("list_offsets")
    vectors = f.array("vectors")
    ids = f.array("ids")
    n = int(list_offsets[-1]) if len(list_offsets) else -1
    if (len(list_offsets) != (spec.nlist or 1) + 1 or list_offsets[0] != 0 or np.any(np.diff(list_offsets) < 0)
            or n != len(vectors) or n != len(ids) or vectors.shape[1:] != (d,)
            or (centroids is not None and centroids.shape != (spec.nlist, d))):
        raise VtoolError(f"{path}: corrupt index: sections do not agree with each other")
    return Index(spec, d, metric, centroids, list_offsets, vectors, ids, h, path)
