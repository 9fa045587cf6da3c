"""`IVF<n>_HNSW<M>`: an inverted file whose coarse quantizer is an HNSW graph over its
centroids (Faiss's IVF..._HNSW), so that assigning a vector or probing nprobe lists costs a
graph search instead of a pass over every centroid: nlist can reach 2^16 and more.

Sections: `centroids` as for IVF, and the graph over them as trained state:
`quantizer_hnsw_levels`, `quantizer_hnsw_level0`, `quantizer_hnsw_upper` (the HNSW layout,
vtool/index/graph.py). A search's `--ef` is the quantizer's (default max(64, nprobe)); `add`
assigns with ef 32. Header: `quantizer_hnsw_seed`, `quantizer_hnsw_ef_construction`.
"""

from __future__ import annotations


import numpy as np

from vtool import _native
from vtool.errors import VtoolError
from vtool.index.graph import DEFAULT_EF_SEARCH, HNSW, MAX_M
from vtool.index.structure import IVF, MAX_NLIST
from vtool.workers import PARTS_PER_THREAD, map_threads, row_ranges

PREFIX = "quantizer_"
ASSIGN_EF = 32


class IVFHNSW(IVF):
    pattern = r"IVF(\d+)_HNSW(\d+)"

    def __init__(self, d: int, nlist: int, m: int):
        super().__init__(d, nlist)
        self.quantizer = HNSW(d, m)
        self.quantizer.list_offsets = np.array([0, nlist], np.int64)
        self.sections = ("centroids",) + tuple(PREFIX + s for s in self.quantizer.row_sections)

    @classmethod
    def parse(cls, match, spec: str) -> dict:
        nlist, m = int(match.group(1)), int(match.group(2))
        if not 1 <= nlist <= MAX_NLIST:
            raise VtoolError(f"index spec {spec!r}: the number of lists must be between 1 and {MAX_NLIST}")
        if not 2 <= m <= MAX_M:
            raise VtoolError(f"index spec {spec!r}: HNSW M must be between 2 and {MAX_M}")
        return {"nlist": nlist, "m": m}

    @classmethod
    def token(cls, nlist: int, m: int) -> str:
        return f"IVF{nlist}_HNSW{m}"

    def configure(self, options: dict) -> None:
        self.quantizer.configure({k[len(PREFIX):]: v for k, v in options.items() if k.startswith(PREFIX)})
        if self.quantizer.adjacency != "int32":
            raise VtoolError("the quantizer's graph is not compressed")

    def header_fields(self) -> dict:
        fields = self.quantizer.header_fields()
        fields.pop("hnsw_adjacency")
        return {PREFIX + k: v for k, v in fields.items()}

    def train(self, x: np.ndarray, metric: str, seed: int, niter: int, init: str) -> dict:
        report = super().train(x, metric, seed, niter, init)
        self.quantizer.seed = seed
        self._link(metric)
        return report

    def _link(self, metric: str) -> None:
        q = self.quantizer
        q.levels, q.level0, q.upper = np.zeros(0, np.uint8), np.zeros((0, q.r0), np.int32), np.zeros(0, np.int32)
        q.grow(q.draw_levels(0, self.nlist))
        q.link(self._centroids, 0, metric, _native.default_threads())
        self.metric = metric

    def arrays(self) -> dict[str, np.ndarray]:
        return {"centroids": self._centroids, **{PREFIX + k: v for k, v in self.quantizer.row_arrays().items()}}

    def check(self, arrays: dict[str, np.ndarray]) -> str | None:
        problem = super().check(arrays)
        if problem:
            return problem
        return self.quantizer.load_rows({k[len(PREFIX):]: v for k, v in arrays.items() if k.startswith(PREFIX)})

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        self._centroids = arrays["centroids"]  # the graph was taken by check

    # -- assignment and probing through the graph -----------------------------------------------
    def _nearest(self, x: np.ndarray, k: int, ef: int, metric: str):
        codes = np.ascontiguousarray(self._centroids, np.float32).view(np.uint8)
        return _native.hnsw_search(self.quantizer.graph, _native.scan_kind("FLAT"), x, codes, metric,
                                   max(ef, k), k=k)

    def assign(self, x: np.ndarray, metric: str = "l2") -> np.ndarray:
        """Each row's list: the nearest centroid the graph finds (ef ASSIGN_EF), rows split
        across the cores (the result does not depend on the split)."""
        x = np.ascontiguousarray(x, np.float32)
        threads = _native.default_threads()
        parts = map_threads(threads, lambda r: self._nearest(x[r[0]:r[1]], 1, ASSIGN_EF, metric)[1][:, 0],
                            row_ranges(len(x), threads, 1024))
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def search_params(self, nprobe: int | None = None, ef: int | None = None, k: int = 1) -> dict:
        """ef here is the quantizer's: candidates kept while looking for the nprobe lists."""
        nprobe = self.clamp_nprobe(nprobe)
        if ef is not None and ef < 1:
            raise VtoolError("--ef must be at least 1")
        return {"nprobe": nprobe, "ef": max(min(ef or DEFAULT_EF_SEARCH, self.nlist), nprobe)}

    def scan(self, xq, params, store, encoding, metric, by_residual=False, precomputed=None, threads=1,
             **collector):
        parts = map_threads(threads, lambda r: self._nearest(xq[r[0]:r[1]], params["nprobe"], params["ef"], metric),
                            row_ranges(len(xq), PARTS_PER_THREAD * threads if threads > 1 else 1))
        dist = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, params["nprobe"]), np.float32)
        probes = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, params["nprobe"]), np.int64)
        coarse = dist if metric == "l2" else None
        return store.scan(encoding, xq, probes, coarse, metric, self.centroids, by_residual, precomputed,
                          threads=threads, **collector)
