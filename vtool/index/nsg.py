"""The NSG structure (Fu et al., "Fast approximate nearest neighbor search with the navigating
spreading-out graph"): one level of at most R neighbours a node, searched best-first from a
navigating node (the node nearest the mean).

Built once over all the vectors of an index (`vtool add` on an empty model):
1. a k-NN graph (K = `nsg_knn`, default 64), approximate: an in-memory IVF-Flat over the
   same vectors (4 sqrt(N) lists, 10 k-means iterations on 64 points a list, nprobe 32)
   searched for every vector;
2. each node's list: what a search of the k-NN graph for it finds (search_l candidates) and
   its own k-NN, at most R chosen by the occlusion rule (the same heuristic as HNSW's);
3. the reverse links, target by target, pruned by the same rule when a list overflows;
4. every node made reachable from the navigating node: a node no search can reach gets a
   link from the nearest reachable node with a free slot.
All steps are deterministic for a seed, whatever the thread count. Sections: `nsg_level0`
int32 (N, R), or compressed as for HNSW; header `nsg_entry`, `nsg_knn`, `nsg_search_l`.
"""

from __future__ import annotations

import numpy as np

from vtool import _native, log
from vtool.errors import VtoolError
from vtool.index.graph import MAX_EF_CONSTRUCTION, MAX_NODES, GraphStructure, mips_to_l2

MAX_R = 256
DEFAULT_KNN = 64
KNN_NPROBE = 32
KNN_NITER = 10  # the k-NN graph's IVF: a rough k-means is enough (its neighbour recall,
KNN_POINTS_PER_LIST = 64  # 0.855 on minilm, is that of 25 iterations on 256 points a list)


class NSG(GraphStructure):
    pattern = r"NSG(\d+)"
    prefix = "nsg"

    def __init__(self, d: int, r: int):
        super().__init__(d, 1, r)
        self.knn, self.search_l, self.entry = DEFAULT_KNN, r + 32, -1

    @classmethod
    def parse(cls, match, spec: str) -> dict:
        r = int(match.group(1))
        if not 2 <= r <= MAX_R:
            raise VtoolError(f"index spec {spec!r}: NSG R must be between 2 and {MAX_R}")
        return {"r": r}

    @classmethod
    def token(cls, r: int) -> str:
        return f"NSG{r}"

    def configure(self, options: dict) -> None:
        super().configure(options)
        knn = options.get("nsg_knn", DEFAULT_KNN)
        search_l = options.get("nsg_search_l", self.r0 + 32)
        entry = options.get("nsg_entry", -1)
        if any(type(v) is not int for v in (knn, search_l, entry)) or not 1 <= knn <= 1024 \
                or not 1 <= search_l <= MAX_EF_CONSTRUCTION or entry < -1:
            raise VtoolError(f"NSG header fields must be integers: k-NN 1..1024, search L 1..{MAX_EF_CONSTRUCTION}, "
                             "entry >= -1")
        self.knn, self.search_l, self.entry = knn, search_l, entry

    def header_fields(self) -> dict:
        return {"nsg_knn": self.knn, "nsg_search_l": self.search_l, "nsg_entry": self.entry,
                **super().header_fields()}

    @property
    def row_sections(self) -> tuple[str, ...]:
        return self.level0_sections()

    def set_entry(self, graph: _native.Graph) -> None:
        if self.entry >= 0:
            graph.set_entry_node(self.entry)
        else:
            graph.set_entry(0)

    def row_arrays(self) -> dict[str, np.ndarray]:
        return self.level0_arrays()

    def describe(self) -> dict:
        return {"R": self.r0, "knn": self.knn, "search_l": self.search_l, **super().describe()}

    def row_section_specs(self, levels: np.ndarray) -> list[tuple[str, str, tuple]]:
        return [("nsg_level0", "<i4", (len(levels), self.r0))]

    def load_rows(self, arrays: dict[str, np.ndarray]) -> str | None:
        n = self.ntotal
        if not (0 <= self.entry < n if n else self.entry == -1):
            return f"NSG entry node {self.entry} outside the graph"
        self.levels = np.zeros(n, np.uint8)
        return self.load_level0(arrays)

    # -- build -------------------------------------------------------------------------------
    def draw_levels(self, n_old: int, n_new: int) -> np.ndarray:
        """One level; an NSG is built once, over every vector."""
        if n_old:
            raise VtoolError("an NSG graph is built once over all its vectors: add them to the model in one "
                             "call (rebuild to add more), or use HNSW, which takes additions")
        if n_new > MAX_NODES:
            raise VtoolError(f"a graph index holds at most {MAX_NODES} vectors")
        return np.zeros(n_new, np.uint8)

    def grow(self, new_levels: np.ndarray, out: dict[str, np.ndarray] | None = None) -> None:
        n = len(new_levels)
        self.level0 = out["nsg_level0"] if out is not None else np.empty((n, self.r0), np.int32)
        self.level0[...] = -1
        self.levels = np.zeros(n, np.uint8)
        self._graph = None

    def link(self, vectors: np.ndarray, n_old: int, metric: str, threads: int) -> None:
        if metric == "ip":
            vectors, metric = mips_to_l2(vectors), "l2"
        n = len(vectors)
        if n == 0:
            return
        self.entry = int(np.argmin(_native.distances_ny(vectors.mean(axis=0), vectors, "l2")))
        knn = knn_graph(vectors, min(self.knn, max(n - 1, 1)), self.seed, threads)
        knn_view = _native.Graph(1, self.levels, knn, np.zeros(0, np.int32), r0=knn.shape[1])
        knn_view.set_entry_node(self.entry)
        graph = self.graph
        builder = _native.GraphBuilder(graph, vectors, metric, threads)
        try:
            with log.progress("linking", n) as advance:
                builder.link_nsg(knn_view, np.arange(n, dtype=np.int32), max(self.search_l, self.r0),
                                 self.r0 + 100)
                advance(n)
        finally:
            builder.close()
        attach_unreachable(self.level0, vectors, self.entry, self.search_l, graph)
        self.sort_lists()
        self._graph = None


def knn_graph(x: np.ndarray, k: int, seed: int, threads: int) -> np.ndarray:
    """(n, k) int32 approximate nearest neighbours of every row (itself excluded), from an
    in-memory IVF-Flat over the same rows probed with KNN_NPROBE lists."""
    from vtool.index.index import train  # the index layer builds on the parts, not the reverse

    n = len(x)
    nlist = int(max(1, min(4 * np.sqrt(n), n // 39)))
    ivf = train(x, f"IVF{nlist},Flat", seed=seed, niter=KNN_NITER, max_train=KNN_POINTS_PER_LIST * nlist)
    ivf.add(x)
    _, ids = ivf.search(x, min(k + 1, n), nprobe=min(KNN_NPROBE, nlist), threads=threads)
    rows = np.arange(n)[:, None]
    ids = np.where(ids == rows, -1, ids)  # drop each row itself
    order = np.argsort(ids < 0, axis=1, kind="stable")  # found neighbours first, in rank order
    ids = np.take_along_axis(ids, order, axis=1)[:, :k]
    return np.ascontiguousarray(ids, dtype=np.int32)


def reachable(level0: np.ndarray, start: np.ndarray, seen: np.ndarray) -> None:
    """Mark in `seen` every node reachable from `start` (breadth first, a frontier at a time)."""
    frontier = start[~seen[start]]
    seen[frontier] = True
    while len(frontier):
        nb = level0[frontier].ravel()
        nb = np.unique(nb[nb >= 0])
        frontier = nb[~seen[nb]]
        seen[frontier] = True


def attach_unreachable(level0: np.ndarray, vectors: np.ndarray, entry: int, search_l: int,
                       graph: _native.Graph) -> None:
    """Link every node no search from the entry can reach from the nearest reachable node
    that has a free slot among those a search for it finds (else its nearest, last slot)."""
    n, r = level0.shape
    seen = np.zeros(n, bool)
    reachable(level0, np.array([entry]), seen)
    codes = np.ascontiguousarray(vectors, np.float32).view(np.uint8)
    flat = _native.scan_kind("FLAT")
    for u in np.flatnonzero(~seen):
        if seen[u]:
            continue  # reached through a node attached before it
        _, found = _native.hnsw_search(graph, flat, vectors[u:u + 1], codes, "l2", search_l,
                                       k=min(search_l, n))
        found = found[0][(found[0] >= 0) & seen[np.maximum(found[0], 0)]]
        free = found[(level0[found] < 0).any(axis=1)] if len(found) else found
        host = int(free[0]) if len(free) else int(found[0]) if len(found) else entry
        slots = np.flatnonzero(level0[host] < 0)
        level0[host, slots[0] if len(slots) else r - 1] = u
        reachable(level0, np.array([u]), seen)
