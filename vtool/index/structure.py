"""The structure part: how the vectors of an index are grouped into lists and which lists
a query visits. `Flat` is one list and no coarse quantizer; `IVF<n>` is an inverted file
whose lists are the cells of a k-means coarse quantizer.

Sections: `list_offsets` int64 (nlist + 1) for every structure (list l holds rows
list_offsets[l] .. list_offsets[l+1]-1); `centroids` float32 (nlist, dv) for IVF.
"""

from __future__ import annotations

import numpy as np

from vtool import _native, log
from vtool.errors import VtoolError
from vtool.quant.encoding import POINTS_PER_CENTROID, check_section
from vtool.quant.kmeans import assign, kmeans, warn_if_few_points

MAX_NLIST = 1 << 24
DEFAULT_NPROBE = 16


class Structure:
    """One list, no coarse quantizer (the `Flat` of a spec without a structure token)."""

    pattern = ""
    sections: tuple[str, ...] = ()  # trained state (the lists' offsets are apart)
    row_sections: tuple[str, ...] = ()  # state that grows with the rows (a graph's links)
    has_centroids = False
    is_graph = False
    # scan(threads=) splits the queries across native threads: one call, no return to Python
    # (and the GIL) between batches; else the index cuts them into chunks for its threads
    splits_queries = True

    def __init__(self, d: int):
        self.d = d
        self.list_offsets = np.zeros(self.nlist + 1, dtype=np.int64)

    @classmethod
    def token(cls, **params) -> str:
        return ""

    @property
    def nlist(self) -> int:
        return 1

    @property
    def ntotal(self) -> int:
        return int(self.list_offsets[-1])

    @property
    def list_sizes(self) -> np.ndarray:
        return np.diff(self.list_offsets)

    @classmethod
    def build_options(cls, seed: int, ef_construction: int | None) -> dict:
        """Header fields of a model from training options this structure takes (none here)."""
        if ef_construction is not None:
            raise VtoolError("--ef-construction is for HNSW graph indexes")
        return {}

    def configure(self, options: dict) -> None:
        """Take build options and header fields (see header_fields)."""

    def header_fields(self) -> dict:
        return {}

    def default_max_train(self) -> int:
        return 0

    def train(self, x: np.ndarray, metric: str, seed: int, niter: int, init: str) -> dict:
        return {}

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore trained state (a single list has none)."""

    def check(self, arrays: dict[str, np.ndarray]) -> str | None:
        """What is wrong with loaded sections, or None (list offsets included)."""
        problem = check_section(arrays, "list_offsets", np.int64, (self.nlist + 1,))
        if problem:
            return problem
        lo = arrays["list_offsets"]
        if lo[0] != 0 or np.any(lo[1:] < lo[:-1]):  # compared, not subtracted: no overflow
            return "list offsets are not increasing from 0"
        return None

    def assign(self, x: np.ndarray, metric: str = "l2") -> np.ndarray:
        """The list of each (transformed) vector."""
        return np.zeros(len(x), dtype=np.int64)

    def centroid_of(self, lists: np.ndarray) -> np.ndarray | None:
        return None

    @property
    def centroids(self) -> np.ndarray | None:
        return None

    def row_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def describe(self) -> dict:
        """What `vtool info` reports of the rows' organisation beyond list sizes (a graph's links)."""
        return {}

    def load_rows(self, arrays: dict[str, np.ndarray]) -> str | None:
        """Take the sections that grow with the rows (none here): what is wrong, or None."""
        return None

    def probe(self, xq: np.ndarray, nprobe: int | None, metric: str = "l2", threads: int = 1):
        """(lists to visit per query, their coarse distances or None), on `threads` threads."""
        return np.zeros((len(xq), 1), dtype=np.int64), None

    def search_params(self, nprobe: int | None = None, ef: int | None = None, k: int = 1) -> dict:
        """Checked search parameters (k: the results each query keeps)."""
        if ef is not None:
            raise VtoolError("--ef is for graph indexes (HNSW); this index is not one")
        return {}

    def scan(self, xq, params, store, encoding, metric, by_residual=False, precomputed=None, threads=1,
             **collector):
        """Search the rows: top-k (k=) or within a radius (radius=), as positions, the queries
        split across `threads` (by the native scans, see splits_queries)."""
        probes, coarse = self.probe(xq, params.get("nprobe"), metric, threads)
        return store.scan(encoding, xq, probes, coarse, metric, self.centroids, by_residual, precomputed,
                          threads=threads, **collector)


class IVF(Structure):
    pattern = r"IVF(\d+)"
    sections = ("centroids",)
    has_centroids = True

    def __init__(self, d: int, nlist: int):
        self._nlist = nlist
        super().__init__(d)
        self._centroids: np.ndarray | None = None
        self._probe_tiles: dict = {}

    @classmethod
    def parse(cls, match, spec: str) -> dict:
        value = int(match.group(1))
        if not 1 <= value <= MAX_NLIST:
            raise VtoolError(f"index spec {spec!r}: the number of lists must be between 1 and {MAX_NLIST}")
        return {"nlist": value}

    @classmethod
    def token(cls, nlist: int) -> str:
        return f"IVF{nlist}"

    @property
    def nlist(self) -> int:
        return self._nlist

    @property
    def centroids(self) -> np.ndarray | None:
        return self._centroids

    def default_max_train(self) -> int:
        return POINTS_PER_CENTROID * self.nlist

    def train(self, x: np.ndarray, metric: str, seed: int, niter: int, init: str) -> dict:
        if len(x) < self.nlist:
            raise VtoolError(f"{len(x)} training vectors cannot train {self.nlist} lists")
        warn_if_few_points(len(x), self.nlist, f"IVF{self.nlist}")
        result = kmeans(x, self.nlist, niter=niter, seed=seed, init=init, metric=metric,
                        label=f"IVF{self.nlist} k-means")
        self._centroids = result.centroids
        self._probe_tiles = {}
        self.metric = metric
        return {"kmeans_objective": result.objective[-1], "empty_splits": result.splits}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"centroids": self._centroids}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        self._centroids = arrays["centroids"]
        self._probe_tiles = {}

    def check(self, arrays: dict[str, np.ndarray]) -> str | None:
        return check_section(arrays, "centroids", np.float32, (self.nlist, self.d)) or super().check(arrays)

    def assign(self, x: np.ndarray, metric: str = "l2") -> np.ndarray:
        return assign(x, self._centroids, metric)[0]

    def centroid_of(self, lists: np.ndarray) -> np.ndarray:
        return self._centroids[lists]

    def clamp_nprobe(self, nprobe: int | None) -> int:
        """nprobe above nlist is clamped (with a warning): probing every list is the most it
        can mean. None means the default, min(16, nlist), without a warning."""
        if nprobe is None:
            return min(DEFAULT_NPROBE, self.nlist)
        if nprobe < 1:
            raise VtoolError("--nprobe must be at least 1")
        if nprobe > self.nlist:
            log.warning(f"nprobe {nprobe} is larger than the number of lists ({self.nlist}); using {self.nlist}")
            return self.nlist
        return nprobe

    def search_params(self, nprobe: int | None = None, ef: int | None = None, k: int = 1) -> dict:
        super().search_params(ef=ef)
        return {"nprobe": self.clamp_nprobe(nprobe)}

    def probe(self, xq: np.ndarray, nprobe: int, metric: str = "l2", threads: int = 1):
        """nprobe is already clamped. Coarse distances are squared L2 (None for ip), computed
        directly (a by-residual scan adds them to its results). Fused SIMD products and
        heaps, not BLAS: this may run in several search threads at once, and concurrent BLAS
        calls oversubscribe the cores (OpenBLAS even serialises them)."""
        probes, dist = self._tiles(metric).nearest(xq, nprobe, threads)
        return probes, dist if metric == "l2" else None

    def scan(self, xq, params, store, encoding, metric, by_residual=False, precomputed=None, threads=1,
             **collector):
        """On several threads, a store that probes as it scans (fast-scan) gets the centroid tiles
        in place of probes, and each batch of queries finds its lists as it is scanned: no wait
        between a probe phase and a scan phase (two threads, nprobe 1: synthetic 1.06x, GloVe
        1.12x). One thread keeps the phases: the centroids stay in cache for all the probes
        (synthetic 0.95x fused)."""
        if threads > 1 and store.probes_in_scan:
            return store.scan(encoding, xq, None, None, metric, self.centroids, by_residual, precomputed,
                              threads=threads, tiles=(self._tiles(metric), params["nprobe"]), **collector)
        return super().scan(xq, params, store, encoding, metric, by_residual, precomputed, threads, **collector)

    def _tiles(self, metric: str) -> _native.CentroidTiles:
        """The centroids packed for the probes, once per SIMD level and metric (a search's
        chunks share them: packing 1,024 x 128 centroids took 0.1 ms a call)."""
        key = (_native.simd_level(), metric)
        tiles = self._probe_tiles.get(key)
        if tiles is None:
            tiles = self._probe_tiles[key] = _native.CentroidTiles(self._centroids, metric)
        return tiles
