"""Graph structures over the rows of one list (native/hnsw.c): what they share
(GraphStructure: level-0 lists, their compression and checks, the search) and HNSW, a
hierarchical navigable small-world graph (NSG is in vtool/index/nsg.py).

HNSW sections (per row, like the codes): `hnsw_levels` uint8 (N,), each node's top level;
`hnsw_level0` int32 (N, 2M), level-0 neighbours; `hnsw_upper` int32 (sum(levels) * M,),
levels 1.. of each node in node order, M slots a level. A list is a set, kept sorted, and
ends at its first -1. The entry point is the first node of the highest level. Header:
`hnsw_ef_construction`, `hnsw_seed` (levels are drawn from it), `hnsw_adjacency`.

Compressed adjacency (`vtool compress-ids`, header `hnsw_adjacency` packed, ef or roc): level
0 becomes `hnsw_degree` uint8 (N,) and `hnsw_level0_<codec>` uint64 words, every list coded
back to back (native/adjacency.c, adjacency_set.c), decoded node by node as the search visits
it; roc adds `hnsw_level0_roc_bits` uint32 (min(2M, 255) + 1,), the size of a list of each
length.

The build holds the float32 vectors of every node (N x d x 4 bytes; twice that for inner
product, which links on vectors of one more component, see mips_to_l2) and the graph
(N x 2M x 4 bytes and the upper levels, about N x 4 x M / (M - 1) bytes) in memory. It is
deterministic: the graph bytes depend on the vectors, M, efConstruction and the seed, not on
the number of threads (nodes are linked in batches, in an order drawn from the seed).
"""

from __future__ import annotations

import numpy as np

from vtool import _native, log
from vtool.errors import VtoolError
from vtool.index.structure import Structure
from vtool.quant.encoding import check_section

MAX_M = 256
MAX_CODED_M = 127  # compressed level-0 lists keep their degree (<= 2M) in a byte
ROC_MAX_BITS_PER_ID = 4 * 48  # adjacency_set.c: an id is up to 4 symbols of at most 48 bits, 2 bits end a list
ADJACENCY = ("int32", "packed", "ef", "roc")
DEFAULT_EF_CONSTRUCTION = 40
MAX_EF_CONSTRUCTION = 1 << 16
DEFAULT_EF_SEARCH = 64
MAX_LEVEL = 63
MAX_NODES = (1 << 31) - 1  # nodes are int32
BATCH_FRACTION = 16  # a batch inserts at most 1/16 of the nodes already linked...
MAX_BATCH = 4096  # ...and at most this many


def batches(n_old: int, n_total: int):
    """The insertion batches [a, b) after n_old linked nodes: small while the graph is small
    (a node of a batch does not see the others of its batch), fixed so that the graph does
    not depend on the thread count."""
    a = n_old
    while a < n_total:
        b = min(n_total, a + max(1, min(a // BATCH_FRACTION, MAX_BATCH)))
        yield a, b
        a = b


def insertion_order(seed: int, n_old: int, n: int) -> np.ndarray:
    """The order nodes n_old..n-1 are linked in: a permutation drawn from the seed. Inputs are
    often sorted (GloVe by word frequency), and linking them in that order makes a worse graph
    (GloVe-50, 100k: recall@10 at ef 16 0.906 in row order, 0.931 shuffled; Faiss 0.932)."""
    return n_old + np.random.default_rng([seed, n_old, 1]).permutation(n - n_old).astype(np.int32)


class GraphStructure(Structure):
    """What every graph structure shares: level-0 lists of at most r0 neighbours a node, kept
    as int32 rows or coded (`compress`), checked on load, searched through the encoding's
    scanner (native/hnsw.c). Sections and header fields are named `<prefix>_...`."""

    prefix = ""
    is_graph = True
    splits_queries = False

    def __init__(self, d: int, m: int, r0: int):
        super().__init__(d)
        self.m, self.r0 = m, r0  # m: the slots of an upper level (HNSW)
        self.seed = 0
        self.levels = np.zeros(0, np.uint8)
        self.level0 = np.zeros((0, r0), np.int32)
        self.upper = np.zeros(0, np.int32)
        self.adjacency = "int32"
        self.coded: _native.Adjacency | None = None  # level 0 when compressed
        self._graph: _native.Graph | None = None

    @classmethod
    def build_options(cls, seed: int, ef_construction: int | None) -> dict:
        super().build_options(seed, ef_construction)
        return {f"{cls.prefix}_seed": seed}

    def configure(self, options: dict) -> None:
        seed = options.get(f"{self.prefix}_seed", 0)
        adjacency = options.get(f"{self.prefix}_adjacency", "int32")
        if type(seed) is not int or not 0 <= seed < 1 << 63:
            raise VtoolError("the seed must be an integer from 0 to 2^63 - 1")
        if adjacency not in ADJACENCY:
            raise VtoolError(f"unknown graph adjacency codec {adjacency!r}")
        self.seed, self.adjacency = seed, adjacency

    def header_fields(self) -> dict:
        return {f"{self.prefix}_seed": self.seed, f"{self.prefix}_adjacency": self.adjacency}

    def level0_sections(self) -> tuple[str, ...]:
        if self.adjacency == "int32":
            return (f"{self.prefix}_level0",)
        sizes = (f"{self.prefix}_level0_roc_bits",) if self.adjacency == "roc" else ()
        return (f"{self.prefix}_degree", f"{self.prefix}_level0_{self.adjacency}") + sizes

    def level0_arrays(self) -> dict[str, np.ndarray]:
        if self.coded is None:
            return {f"{self.prefix}_level0": self.level0}
        arrays = {f"{self.prefix}_degree": self.coded.degree,
                  f"{self.prefix}_level0_{self.adjacency}": self.coded.words}
        if self.adjacency == "roc":
            arrays[f"{self.prefix}_level0_roc_bits"] = self.coded.list_bits.astype(np.uint32)
        return arrays

    # -- search --------------------------------------------------------------------------
    def search_params(self, nprobe: int | None = None, ef: int | None = None, k: int = 1) -> dict:
        """ef below k is raised to k (with a warning when ef was given): a search keeps ef results."""
        if nprobe is not None:
            raise VtoolError("--nprobe is for IVF indexes; a graph index takes --ef")
        if ef is None:
            return {"ef": max(DEFAULT_EF_SEARCH, k)}
        if ef < 1:
            raise VtoolError("--ef must be at least 1")
        if ef < k:
            log.warning(f"ef {ef} is smaller than the {k} results asked for; using ef = {k}")
        return {"ef": max(min(ef, self.ntotal), k)}  # more candidates than vectors means all of them

    def scan(self, xq, params, store, encoding, metric, by_residual=False, precomputed=None, threads=1,
             **collector):
        """On the calling thread (threads is 1: splits_queries is False, the index splits them)."""
        if store.layout != "rows":
            raise VtoolError(f"a graph searches codes by row; this index stores them as {store.layout}")
        return _native.hnsw_search(self.graph, encoding.scan_kind, xq, store.codes, metric, params["ef"],
                                   params=encoding.scan_params(), m=encoding.m, ksub=encoding.ksub, **collector)

    @property
    def graph(self) -> _native.Graph:
        if self._graph is None:
            self._graph = _native.Graph(self.m, self.levels, None if self.coded else self.level0, self.upper,
                                        self.coded, self.r0)
            self.set_entry(self._graph)
        return self._graph

    def set_entry(self, graph: _native.Graph) -> None:
        """Point the graph at its entry node."""

    # -- sections --------------------------------------------------------------------------
    def degrees(self) -> np.ndarray:
        return self.coded.degree if self.coded is not None else (self.level0 >= 0).sum(axis=1)

    def describe(self) -> dict:
        degree = self.degrees()
        level0_bits = self.coded.total_bits if self.coded is not None else 32 * self.level0.size
        return {"seed": self.seed, "adjacency": self.adjacency,
                "level0_bits_per_edge": round(level0_bits / max(int(degree.sum()), 1), 3),
                "entry": self.graph.c.entry,
                "level0_degree_mean": round(float(degree.mean()), 2) if len(degree) else 0.0,
                "level0_degree_max": int(degree.max(initial=0)),
                "edges": int(degree.sum() + (self.upper >= 0).sum()),
                "isolated_nodes": int((degree == 0).sum()) if len(degree) > 1 else 0}

    def load_level0(self, arrays: dict[str, np.ndarray]) -> str | None:
        """Level 0 as int32 lists (every neighbour in the graph), or coded: degrees within
        r0, a stream as long as they say (the decoder checks every list it reads)."""
        n = self.ntotal
        self._graph = None
        if self.adjacency == "int32":
            name = f"{self.prefix}_level0"
            problem = check_section(arrays, name, np.int32, (n, self.r0))
            level0 = arrays.get(name)
            if not problem and level0.size and (level0.min() < -1 or level0.max() >= n):
                problem = "a level-0 neighbour outside the graph"
            if not problem:
                self.level0 = level0
            return problem
        name = f"{self.prefix}_level0_{self.adjacency}"
        problem = check_section(arrays, f"{self.prefix}_degree", np.uint8, (n,))
        if problem:
            return problem
        degree, words = arrays[f"{self.prefix}_degree"], arrays.get(name)
        if n and int(degree.max()) > min(self.r0, 255):
            return f"a level-0 degree above {min(self.r0, 255)}"
        if words is None or words.dtype != np.dtype("<u8") or words.ndim != 1:
            return f"section {name!r} should be uint64 words"
        list_bits = None
        if self.adjacency == "roc":
            sizes = f"{self.prefix}_level0_roc_bits"
            slots = min(self.r0, 255)
            problem = check_section(arrays, sizes, np.uint32, (slots + 1,))
            if problem:
                return problem
            list_bits = arrays[sizes].astype(np.int64)
            if (list_bits > ROC_MAX_BITS_PER_ID * np.arange(slots + 1) + 2).any():
                return f"section {sizes!r} gives a list more bits than the coder can write"
        coded = _native.Adjacency(self.adjacency, words, degree, n, self.r0, list_bits)
        if (coded.total_bits + 63) // 64 != len(words):
            return f"section {name!r} does not hold the lists its degrees describe"
        self.coded = coded
        return None

    def plain_level0(self) -> None:
        """Links are added to plain lists: a coded level 0 is decoded (and written plain)."""
        if self.coded is not None:
            self.level0, self.coded, self.adjacency = self.coded.decode(self.r0), None, "int32"
            self._graph = None

    def sort_lists(self) -> None:
        """Lists are sets: sorted (-1, as 0xffffffff, last) they code as sets and search alike."""
        self.level0.view(np.uint32).sort(axis=1)
        if self.upper.size:
            self.upper.reshape(-1, self.m).view(np.uint32).sort(axis=1)

    def compress(self, codec: str) -> dict:
        """Code level 0 with an adjacency codec (or back to int32); bits per edge against the
        set bound sum log2 C(N, deg_i) / sum deg_i and against int32 links."""
        if codec not in ADJACENCY:
            raise VtoolError(f"unknown --adjacency {codec!r}; choose {', '.join(ADJACENCY)}")
        if self.r0 > 255 and codec != "int32":
            raise VtoolError("compressed adjacency keeps degrees in a byte: at most 255 level-0 neighbours "
                             f"(HNSW M up to {MAX_CODED_M})")
        self.plain_level0()
        lists = np.asarray(self.level0)
        n = len(lists)
        if codec != "int32":
            self.coded, self.adjacency = _native.Adjacency.encode(codec, lists, n), codec
            self.level0 = np.zeros((0, self.r0), np.int32)
        self._graph = None
        degree = (lists >= 0).sum(axis=1)
        edges = max(int(degree.sum()), 1)
        bits = self.coded.total_bits if self.coded is not None else 32 * lists.size
        return {"adjacency": codec, "level0_edges": int(degree.sum()),
                "adjacency_bits_per_edge": bits / edges,
                "adjacency_bits_with_degrees_per_edge": (bits + (8 * n if self.coded is not None else 0)) / edges,
                "adjacency_set_bound_bits_per_edge": set_bound_bits(degree, n) / edges,
                "adjacency_int32_bits_per_edge": 32.0}


class HNSW(GraphStructure):
    pattern = r"HNSW(\d+)"
    prefix = "hnsw"

    def __init__(self, d: int, m: int):
        super().__init__(d, m, 2 * m)
        self.ef_construction = DEFAULT_EF_CONSTRUCTION
        self.entry = -1  # -1: the first node of the top level; else a node of it (a graph imported from faiss)

    @classmethod
    def parse(cls, match, spec: str) -> dict:
        m = int(match.group(1))
        if not 2 <= m <= MAX_M:
            raise VtoolError(f"index spec {spec!r}: HNSW M must be between 2 and {MAX_M}")
        return {"m": m}

    @classmethod
    def token(cls, m: int) -> str:
        return f"HNSW{m}"

    @classmethod
    def build_options(cls, seed: int, ef_construction: int | None) -> dict:
        efc = DEFAULT_EF_CONSTRUCTION if ef_construction is None else ef_construction
        return {"hnsw_seed": seed, "hnsw_ef_construction": efc}

    def configure(self, options: dict) -> None:
        super().configure(options)
        efc = options.get("hnsw_ef_construction", DEFAULT_EF_CONSTRUCTION)
        if type(efc) is not int or not 1 <= efc <= MAX_EF_CONSTRUCTION:
            raise VtoolError(f"--ef-construction must be an integer from 1 to {MAX_EF_CONSTRUCTION}")
        self.ef_construction = efc
        entry = options.get("hnsw_entry", -1)
        if type(entry) is not int or not -1 <= entry <= MAX_NODES:
            raise VtoolError("header field 'hnsw_entry' must be a node number (or -1)")
        self.entry = entry

    def header_fields(self) -> dict:
        entry = {"hnsw_entry": self.entry} if self.entry >= 0 else {}
        return {"hnsw_ef_construction": self.ef_construction, **entry, **super().header_fields()}

    @property
    def row_sections(self) -> tuple[str, ...]:
        return ("hnsw_levels",) + self.level0_sections() + ("hnsw_upper",)

    def set_entry(self, graph: _native.Graph) -> None:
        if self.entry >= 0:
            graph.set_entry_node(self.entry)
        else:
            graph.set_entry(len(self.levels))  # the first node of the highest level

    def row_arrays(self) -> dict[str, np.ndarray]:
        return {"hnsw_levels": self.levels, **self.level0_arrays(), "hnsw_upper": self.upper}

    def describe(self) -> dict:
        return {"M": self.m, "ef_construction": self.ef_construction, **super().describe(),
                "max_level": int(self.levels.max(initial=0)), "nodes_per_level": np.bincount(self.levels).tolist()}

    def row_section_specs(self, levels: np.ndarray) -> list[tuple[str, str, tuple]]:
        return [("hnsw_levels", "|u1", (len(levels),)), ("hnsw_level0", "<i4", (len(levels), self.r0)),
                ("hnsw_upper", "<i4", (int(levels.astype(np.int64).sum()) * self.m,))]

    def load_rows(self, arrays: dict[str, np.ndarray]) -> str | None:
        """Take the graph sections after checking them against each other: what is wrong, or None."""
        n = self.ntotal
        problem = check_section(arrays, "hnsw_levels", np.uint8, (n,)) or self.load_level0(arrays)
        if problem:
            return problem
        levels = arrays["hnsw_levels"]
        if n and int(levels.max()) > MAX_LEVEL:
            return f"a node level above {MAX_LEVEL}"
        problem = check_section(arrays, "hnsw_upper", np.int32, (int(levels.astype(np.int64).sum()) * self.m,))
        if problem:
            return problem
        upper = arrays["hnsw_upper"]
        if upper.size:
            if upper.min() < -1 or upper.max() >= n:
                return "an upper-level neighbour outside the graph"
            slot_level = _slot_levels(levels, self.m)
            named = upper >= 0
            if np.any(levels[upper[named]] < slot_level[named]):
                return "an upper-level neighbour without that level"
        if self.entry >= 0 and (self.entry >= n or levels[self.entry] != levels.max()):
            return f"hnsw_entry {self.entry} is not a node of the top level"
        self.levels, self.upper = levels, upper
        return None

    # -- build -------------------------------------------------------------------------------
    def draw_levels(self, n_old: int, n_new: int) -> np.ndarray:
        """Levels of n_new nodes after n_old, from the seed: floor(-ln(u) / ln(M)), as in the paper."""
        if n_old + n_new > MAX_NODES:
            raise VtoolError(f"a graph index holds at most {MAX_NODES} vectors")
        u = np.random.default_rng([self.seed, n_old]).random(n_new)
        lv = np.floor(-np.log1p(-u) / np.log(self.m))
        return np.minimum(lv, MAX_LEVEL).astype(np.uint8)

    def grow(self, new_levels: np.ndarray, out: dict[str, np.ndarray] | None = None) -> None:
        """Room for new nodes (their lists empty), in `out` (sections being written) or in memory."""
        self.plain_level0()
        levels = np.concatenate([self.levels, new_levels])
        specs = self.row_section_specs(levels)
        if out is None:
            out = {name: np.empty(shape, np.dtype(dtype)) for name, dtype, shape in specs}
        n_old, u_old = len(self.levels), len(self.upper)
        out["hnsw_levels"][...] = levels
        out["hnsw_level0"][:n_old] = self.level0
        out["hnsw_level0"][n_old:] = -1
        out["hnsw_upper"][:u_old] = self.upper
        out["hnsw_upper"][u_old:] = -1
        self.levels, self.level0, self.upper = out["hnsw_levels"], out["hnsw_level0"], out["hnsw_upper"]
        self._graph = None

    def link(self, vectors: np.ndarray, n_old: int, metric: str, threads: int) -> None:
        """Insert nodes n_old.. (rows of vectors, which holds every node) into the graph."""
        if metric == "ip":
            vectors, metric = mips_to_l2(vectors), "l2"
        self.entry = -1  # linking enters at the first node of the top level, and so does the grown graph
        self._graph = None
        n = len(vectors)
        order = insertion_order(self.seed, n_old, n)
        graph = self.graph
        graph.set_entry(n_old)
        builder = _native.GraphBuilder(graph, vectors, metric, threads)
        try:
            with log.progress("linking", n - n_old) as advance:
                for a, b in batches(n_old, n):
                    builder.insert(order[a - n_old:b - n_old], self.ef_construction)
                    advance(b - a)
        finally:
            builder.close()
            graph.set_entry(n)  # as a loaded graph has it
        self.sort_lists()


def set_bound_bits(degree: np.ndarray, n: int) -> float:
    """sum log2 C(N, deg_i): the bits any code of these neighbour sets needs."""
    from math import lgamma, log

    counts = np.bincount(degree)
    return sum(c * (lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)) / log(2)
               for k, c in enumerate(counts) if c)


def mips_to_l2(x: np.ndarray) -> np.ndarray:
    """Vectors with one more component, sqrt(max |x|^2 - |x|^2), so that they all have the same
    norm: the L2 order from a query (with 0 there) is then its inner-product order. An inner-
    product graph is linked on these, as a metric graph: linked on inner products directly, the
    neighbour heuristic leaves vectors of small norm without in-links (unreachable)."""
    sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    extra = np.sqrt(np.maximum(sq.max(initial=0.0) - sq, 0.0)).astype(np.float32)
    return np.concatenate([x, extra[:, None]], axis=1)


def _slot_levels(levels: np.ndarray, m: int) -> np.ndarray:
    """The level (1..) each slot of the upper section belongs to."""
    per_node = levels.astype(np.int64)
    starts = np.repeat(np.cumsum(per_node) - per_node, per_node)  # first level-slot of the owner
    rank = np.arange(len(starts)) - starts  # 0.. within the owner's levels
    return np.repeat(rank + 1, m)
