"""The only module that touches cffi: loads the compiled core, converts arrays to pointers."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from vtool._native_lib import ffi, lib
from vtool.errors import CorruptData
from vtool.workers import PARTS_PER_THREAD, map_threads, row_ranges

LEVEL_NAMES = ("scalar", "avx2", "avx512")
METRICS = {"l2": 0, "ip": 1}


def cpu_max_level() -> str:
    return LEVEL_NAMES[lib.vt_cpu_max_level()]


def simd_level() -> str:
    return LEVEL_NAMES[lib.vt_simd_level()]


def set_simd_level(name: str) -> str:
    """Force a SIMD level (lowered to what the CPU has); returns the level in effect."""
    return LEVEL_NAMES[lib.vt_set_simd_level(LEVEL_NAMES.index(name))]


def _ptr(ctype: str, a: np.ndarray):
    assert a.flags.c_contiguous, "native kernels take C-contiguous arrays"
    return ffi.cast(ctype, ffi.from_buffer(a)) if a.size else ffi.NULL


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def distances_ny(x: np.ndarray, y: np.ndarray, metric: str = "l2") -> np.ndarray:
    """Squared L2 (or inner product) between one vector x (d,) and every row of y (n, d)."""
    x, y = _f32(x), _f32(y)
    assert x.ndim == 1 and y.ndim == 2 and y.shape[1] == x.shape[0]
    out = np.empty(y.shape[0], dtype=np.float32)
    fn = lib.vt_ip_ny if metric == "ip" else lib.vt_l2sqr_ny
    fn(_ptr("float *", x), _ptr("float *", y), y.shape[0], x.shape[0], _ptr("float *", out))
    return out


def distances_rows(x: np.ndarray, y: np.ndarray, rows: np.ndarray, metric: str = "l2") -> np.ndarray:
    """Squared L2 (or inner product) between x (d,) and rows y[rows] (rows int32), read in place."""
    x, y = _f32(x), _f32(y)
    rows = np.ascontiguousarray(rows, dtype=np.int32)
    out = np.empty(len(rows), dtype=np.float32)
    if len(rows) and lib.vt_dist_rows(_ptr("float *", x), _ptr("float *", y), y.shape[0], y.shape[1],
                                      _ptr("int32_t *", rows), len(rows), METRICS[metric], _ptr("float *", out)):
        raise ValueError("row out of range")
    return out


def rerank(queries: np.ndarray, vectors: np.ndarray, pos: np.ndarray, k: int, metric: str):
    """Best k (minimised distance, row) of each query among its shortlist rows pos of vectors,
    by exact distance, ties to the smaller row; vectors may be a memory map (rows are read
    in place)."""
    queries, vectors = _f32(queries), _f32(vectors)
    pos = np.ascontiguousarray(pos, dtype=np.int64)
    nq, s = pos.shape
    out_d = np.empty((nq, k), np.float32)
    out_p = np.empty((nq, k), np.int64)
    rc = lib.vt_rerank(_ptr("float *", queries), nq, queries.shape[1], _ptr("float *", vectors), len(vectors),
                       _ptr("int64_t *", pos), s, METRICS[metric], k, _ptr("float *", out_d), _ptr("int64_t *", out_p))
    if rc == -2:
        raise ValueError("shortlist row out of range")
    if rc:
        raise MemoryError("vt_rerank: out of memory")
    return out_d, out_p


def pairwise(x: np.ndarray, y: np.ndarray, metric: str = "l2") -> np.ndarray:
    """Distance matrix (nx, ny) computed directly (no BLAS decomposition)."""
    x, y = _f32(x), _f32(y)
    assert x.ndim == 2 and y.ndim == 2 and x.shape[1] == y.shape[1]
    out = np.empty((x.shape[0], y.shape[0]), dtype=np.float32)
    lib.vt_pairwise(_ptr("float *", x), x.shape[0], _ptr("float *", y), y.shape[0], x.shape[1],
                    METRICS[metric], _ptr("float *", out))
    return out


def norms_sqr(x: np.ndarray) -> np.ndarray:
    x = _f32(x)
    out = np.empty(x.shape[0], dtype=np.float32)
    lib.vt_norms_sqr(_ptr("float *", x), x.shape[0], x.shape[1], _ptr("float *", out))
    return out


def norms_sqr_f64(x: np.ndarray) -> np.ndarray:
    """Squared norms of float32 rows accumulated in float64 (NaN or Inf where a component is)."""
    x = _f32(x)
    out = np.empty(x.shape[0], dtype=np.float64)
    if x.size:
        lib.vt_norms_sqr_f64(_ptr("float *", x), x.shape[0], x.shape[1], _ptr("double *", out))
    else:
        out[:] = 0.0
    return out


class TopK:
    """Running top-k (smallest distance, ties to smaller id) for nq queries: a native top-k
    collector (heaps, or from k = 20 reservoirs of 2k: memory twice the results')."""

    def __init__(self, nq: int, k: int):
        self.nq, self.k = nq, k
        self.dist = np.empty((nq, k), dtype=np.float32)
        self.ids = np.empty((nq, k), dtype=np.int64)
        self.ptr = lib.vt_topk_collector(nq, k, _ptr("float *", self.dist), _ptr("int64_t *", self.ids), 1)
        if self.ptr == ffi.NULL:
            raise MemoryError("could not allocate a top-k collector")

    def __del__(self):
        if getattr(self, "ptr", ffi.NULL) != ffi.NULL:
            lib.vt_collector_free(self.ptr)
            self.ptr = ffi.NULL

    def add_distances(self, dist: np.ndarray, id0: int, q0: int = 0) -> None:
        """Fold a block of distances (rows = queries q0.., columns = ids id0..)."""
        dist = _f32(dist)
        if lib.vt_collector_add_block(self.ptr, q0, dist.shape[0], _ptr("float *", dist), dist.shape[1], id0):
            raise ValueError("distances do not fit the top-k's queries")

    def add_inner_products(self, ip: np.ndarray, id0: int, q0: int, qnorm: np.ndarray | None,
                           bnorm: np.ndarray | None, metric: str) -> None:
        """Fold a block of inner products, turned into distances on the fly (L2 needs norms).
        Blocks of different queries may be folded from different threads at once."""
        ip = _f32(ip)
        qn = _f32(qnorm) if metric == "l2" else None
        bn = _f32(bnorm) if metric == "l2" else None
        if lib.vt_collector_add_ip_block(self.ptr, q0, ip.shape[0], _ptr("float *", ip), ip.shape[1], id0,
                                         _opt("float *", qn), _opt("float *", bn), METRICS[metric]):
            raise ValueError("inner products do not fit the top-k's queries")

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted (distances, ids); ends the collection."""
        if lib.vt_collector_finish(self.ptr):
            raise RuntimeError("vt_collector_finish failed")
        lib.vt_collector_free(self.ptr)
        self.ptr = ffi.NULL
        return self.dist, self.ids


def default_threads() -> int:
    """Threads for data-parallel kernels: the cores this process may run on (its CPU affinity,
    and a cgroup v2 CPU quota, as a container sets it)."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        cores = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):  # no cgroup v2 quota file (or an odd one): the affinity holds
        pass
    return cores


class CentroidTiles:
    """Centroids packed once for the SIMD level in use (native/assign.c), for many probes: the
    nprobe nearest of each row, nearest first (ties to the smaller index), as (labels int64,
    distances float32), both (n, nprobe); squared L2, or minus the inner product for ip.
    A probe runs on the calling thread; one object serves many threads at once."""

    def __init__(self, centroids: np.ndarray, metric: str = "l2"):
        self.centroids = _f32(centroids)  # held here: the native object points into them
        assert self.centroids.ndim == 2 and len(self.centroids) > 0
        self.cnorm = norms_sqr(self.centroids)
        self.d = self.centroids.shape[1]
        self.level = simd_level()
        self.ptr = lib.vt_centroid_tiles_new(_ptr("float *", self.centroids), _ptr("float *", self.cnorm),
                                             len(self.centroids), self.d, METRICS[metric])
        if self.ptr == ffi.NULL:
            raise MemoryError("vt_centroid_tiles_new could not allocate the centroid tiles")

    def __del__(self):
        if getattr(self, "ptr", ffi.NULL) != ffi.NULL:
            lib.vt_centroid_tiles_free(self.ptr)
            self.ptr = ffi.NULL

    def nearest(self, x: np.ndarray, nprobe: int, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Rows split across `threads` (the result does not depend on the split)."""
        x = _f32(x)
        assert x.ndim == 2 and x.shape[1] == self.d and nprobe > 0
        labels = np.empty((len(x), nprobe), dtype=np.int64)
        dist = np.empty((len(x), nprobe), dtype=np.float32)

        def run(rows):
            a, b = rows
            if lib.vt_probe_tiles(self.ptr, _ptr("float *", x[a:b]), b - a, nprobe, _ptr("int64_t *", labels[a:b]),
                                  _ptr("float *", dist[a:b])):
                raise ValueError("bad probe arguments")

        map_threads(threads, run, row_ranges(len(x), PARTS_PER_THREAD * threads if threads > 1 else 1))
        return labels, dist


def nearest_centroids(x: np.ndarray, centroids: np.ndarray, nprobe: int,
                      metric: str = "l2") -> tuple[np.ndarray, np.ndarray]:
    """The nprobe nearest centroids of each row (CentroidTiles.nearest, packed for this call)."""
    return CentroidTiles(centroids, metric).nearest(x, nprobe)


def assign_nearest(x: np.ndarray, centroids: np.ndarray, metric: str = "l2",
                   threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of each row (ties to the smaller index): (labels int64, distances float32).

    Rows are split across threads (cffi releases the GIL); results do not depend on the split."""
    x, centroids = _f32(x), _f32(centroids)
    n, d = x.shape
    assert centroids.ndim == 2 and centroids.shape[1] == d and len(centroids) > 0
    cnorm = norms_sqr(centroids)
    labels = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float32)

    def run(bounds):
        a, b = bounds
        if b > a:
            rc = lib.vt_assign_nearest(_ptr("float *", x[a:b]), b - a, d, _ptr("float *", centroids),
                                       _ptr("float *", cnorm), len(centroids), METRICS[metric],
                                       _ptr("int64_t *", labels[a:b]), _ptr("float *", dist[a:b]))
            if rc != 0:
                raise MemoryError("vt_assign_nearest could not allocate its centroid tiles")

    chunks = row_ranges(n, threads or default_threads(), 1024)
    map_threads(len(chunks), run, chunks)
    return labels, dist


def kmeans_accumulate(x: np.ndarray, assign: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    x = _f32(x)
    assign = np.ascontiguousarray(assign, dtype=np.int64)
    sums = np.empty((k, x.shape[1]), dtype=np.float64)
    counts = np.empty(k, dtype=np.int64)
    lib.vt_kmeans_accumulate(_ptr("float *", x), x.shape[0], x.shape[1], _ptr("int64_t *", assign), k,
                             _ptr("double *", sums), _ptr("int64_t *", counts))
    return sums, counts


def _opt(ctype: str, a: np.ndarray | None):
    return ffi.NULL if a is None else _ptr(ctype, a)


def scan_kind(name: str) -> int:
    """The native scan kind of an encoding family (VT_SCAN_<name> in vtool.h)."""
    return getattr(lib, f"VT_SCAN_{name}")


class _Collector:
    """A native result collector: top-k into arrays, or every result within a radius."""

    def __init__(self, nq: int, k: int | None = None, radius: float | None = None, ordered: bool = True):
        """ordered=False: top-k results in any order (a shortlist to re-rank; no sorting)."""
        self.nq, self.k = nq, k
        if k is not None:
            self.dist = np.empty((nq, k), dtype=np.float32)
            self.pos = np.empty((nq, k), dtype=np.int64)
            self.ptr = lib.vt_topk_collector(nq, k, _ptr("float *", self.dist), _ptr("int64_t *", self.pos),
                                             int(ordered))
        else:
            self.ptr = lib.vt_radius_collector(nq, radius)
        if self.ptr == ffi.NULL:
            raise MemoryError("could not allocate a result collector")

    def result(self):
        """(distances, positions) n x k, or (lims, distances, positions) for a radius."""
        try:
            if self.k is not None:
                return self.dist, self.pos
            total = lib.vt_radius_total(self.ptr)
            lims = np.empty(self.nq + 1, dtype=np.int64)
            dist = np.empty(total, dtype=np.float32)
            pos = np.empty(total, dtype=np.int64)
            if lib.vt_radius_results(self.ptr, _ptr("int64_t *", lims), _opt("float *", dist),
                                     _opt("int64_t *", pos), total):
                raise RuntimeError("vt_radius_results failed")
            return lims, dist, pos
        finally:
            lib.vt_collector_free(self.ptr)
            self.ptr = ffi.NULL


def _codes_ptr(codes: np.ndarray):
    return _ptr("uint8_t *", codes) if codes.size else ffi.cast("uint8_t *", 0)


def ivf_scan(kind: int, queries: np.ndarray, codes: np.ndarray, list_offsets: np.ndarray, probes: np.ndarray,
             metric: str, k: int | None = None, centroids: np.ndarray | None = None, by_residual: bool = False,
             coarse_dist: np.ndarray | None = None, params: np.ndarray | None = None, m: int = 0,
             ksub: int = 0, precomputed: np.ndarray | None = None, radius: float | None = None,
             ordered: bool = True, terms: np.ndarray | None = None, threads: int = 1):
    """Scan the probed lists of codes (N, code_size) uint8: top-k (distances, row positions)
    n x k, or with radius (minimised distance) every result within it: (lims, distances, rows).
    ordered=False: each query's top-k in any order (a shortlist to re-rank). terms (N float32,
    from list_terms, with precomputed): each row's list term, in place of a table per list.
    The queries split across `threads` native threads."""
    queries = _f32(queries)
    if terms is not None and (precomputed is None or terms.dtype != np.float32 or terms.shape != (codes.shape[0],)
                              or not terms.flags.c_contiguous):
        raise ValueError("terms must be float32, one a row, with the precomputed tables")
    probes = np.ascontiguousarray(probes, dtype=np.int64)
    nq, d = queries.shape
    assert codes.ndim == 2 and codes.dtype == np.uint8
    if coarse_dist is not None:
        coarse_dist = _f32(coarse_dist)
    params = _f32(params if params is not None else np.zeros(1, np.float32))
    list_offsets = np.ascontiguousarray(list_offsets, np.int64)
    out = _Collector(nq, k, radius, ordered)
    rc = _run_job("scan", threads, kind, _ptr("float *", queries), nq, d, _opt("float *", centroids), int(by_residual),
                  _codes_ptr(codes), codes.shape[1], _ptr("int64_t *", list_offsets), len(list_offsets) - 1,
                  _ptr("int64_t *", probes), _opt("float *", coarse_dist), probes.shape[1], _ptr("float *", params), m,
                  ksub, _opt("float *", precomputed), _opt("float *", terms), METRICS[metric], out.ptr)
    result = out.result()
    if rc != 0:
        raise RuntimeError(f"the IVF scan failed with code {rc}")
    return result


def _run_job(kind: str, threads: int, *args) -> int:
    """A native search job (vt_<kind>_job_*) made, run by `threads` of our workers at once
    (each takes batches of queries until none is left: a thread that starts late finds less
    to do, none waits for it), and freed: 0 or the first failure's code. Our persistent
    workers, not threads made by the call: a new thread could start on its parent's core."""
    threads = max(1, int(threads))
    job = ffi.new(f"vt_{kind}_job **")
    rc = getattr(lib, f"vt_{kind}_job_new")(*args, threads, job)
    if rc:
        return rc
    try:
        run = getattr(lib, f"vt_{kind}_job_run")
        return next((r for r in map_threads(threads, lambda _: run(job[0]), range(threads)) if r), 0)
    finally:
        getattr(lib, f"vt_{kind}_job_free")(job[0])


def list_terms(precomputed: np.ndarray, codes: np.ndarray, list_offsets: np.ndarray, lists: np.ndarray,
               terms: np.ndarray) -> None:
    """terms[r] = sum_j precomputed[l, j, code_j] for the rows r of each of `lists` (in place):
    what an L2 by-residual PQ / RQ distance owes to the row's list, whatever the query."""
    nlist, m, ksub = precomputed.shape
    lists = np.ascontiguousarray(lists, dtype=np.int64)
    list_offsets = np.ascontiguousarray(list_offsets, np.int64)
    assert codes.ndim == 2 and codes.dtype == np.uint8 and len(list_offsets) == nlist + 1
    assert terms.dtype == np.float32 and terms.shape == (codes.shape[0],)
    if list_offsets[0] != 0 or list_offsets[-1] > codes.shape[0] or (np.diff(list_offsets) < 0).any():
        raise ValueError("list_terms: list offsets do not fit the codes")
    if lib.vt_list_terms(_ptr("float *", _f32(precomputed)), m, ksub, _codes_ptr(codes), codes.shape[1],
                         _ptr("int64_t *", list_offsets), nlist, _ptr("int64_t *", lists), len(lists),
                         _ptr("float *", terms)):
        raise ValueError("list_terms: a list out of range or inconsistent list offsets")


def ivf_fs_scan(queries: np.ndarray, blocks: np.ndarray, block_offsets: np.ndarray, list_offsets: np.ndarray,
                probes: np.ndarray, codebooks: np.ndarray, metric: str, k: int | None = None,
                centroids: np.ndarray | None = None, by_residual: bool = False,
                precomputed: np.ndarray | None = None, radius: float | None = None, ordered: bool = True,
                threads: int = 1, tiles: tuple[CentroidTiles, int] | None = None):
    """Fast-scan (approximate distances from 8-bit tables): top-k or radius, as ivf_scan; the
    queries split across `threads` native threads. With tiles (centroids, nprobe) in place of
    probes, each batch of queries finds its nearest lists as it is scanned."""
    queries = _f32(queries)
    nq, d = queries.shape
    if tiles is not None:
        tiles_ptr, nprobe, probes_ptr = tiles[0].ptr, int(tiles[1]), ffi.NULL
    else:
        probes = np.ascontiguousarray(probes, dtype=np.int64)
        tiles_ptr, nprobe, probes_ptr = ffi.NULL, probes.shape[1], _ptr("int64_t *", probes)
    m = codebooks.shape[0]
    block_offsets = np.ascontiguousarray(block_offsets, np.int64)
    list_offsets = np.ascontiguousarray(list_offsets, np.int64)
    codebooks = _f32(codebooks)
    out = _Collector(nq, k, radius, ordered)
    rc = _run_job("fs", threads, _ptr("float *", queries), nq, d, _opt("float *", centroids), int(by_residual),
                  _codes_ptr(blocks), _ptr("int64_t *", block_offsets), _ptr("int64_t *", list_offsets),
                  len(list_offsets) - 1, probes_ptr, tiles_ptr, nprobe, _ptr("float *", codebooks),
                  _opt("float *", precomputed), m, METRICS[metric], out.ptr)
    result = out.result()
    if rc != 0:
        raise RuntimeError(f"the fast-scan failed with code {rc}")
    return result


class Scanner:
    """One query at a time against encoded vectors: distances to arbitrary rows (a graph
    search's distance computer), through the same preparation as the list scans."""

    def __init__(self, kind: int, d: int, code_size: int, metric: str, params: np.ndarray | None = None,
                 m: int = 0, ksub: int = 0, centroids: np.ndarray | None = None, by_residual: bool = False,
                 precomputed: np.ndarray | None = None):
        self._keep = (_f32(params if params is not None else np.zeros(1, np.float32)), centroids, precomputed)
        self.ptr = lib.vt_scanner_new(kind, d, _opt("float *", centroids), 0 if centroids is None else len(centroids),
                                      int(by_residual), code_size, _ptr("float *", self._keep[0]), m, ksub,
                                      _opt("float *", precomputed), 0, METRICS[metric])
        if self.ptr == ffi.NULL:
            raise ValueError("vt_scanner_new refused its parameters")
        self.d = d

    def __del__(self):
        if getattr(self, "ptr", ffi.NULL) != ffi.NULL:
            lib.vt_scanner_free(self.ptr)

    def set_query(self, x: np.ndarray, list_no: int = -1) -> None:
        self._x = _f32(x)
        assert self._x.shape == (self.d,)
        lib.vt_scanner_set_query(self.ptr, _ptr("float *", self._x))
        if list_no >= 0 and lib.vt_scanner_set_list(self.ptr, list_no, float("nan")):
            raise ValueError(f"list {list_no} out of range")

    def distances(self, codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Minimised distances (negated inner products for ip) to codes[rows]."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        out = np.empty(len(rows), dtype=np.float32)
        if len(rows) and lib.vt_scanner_rows(self.ptr, _codes_ptr(codes), len(codes), _ptr("int64_t *", rows),
                                             len(rows), _ptr("float *", out)):
            raise ValueError("row out of range")
        return out


ADJ_CODECS = {"packed": lib.VT_ADJ_PACKED, "ef": lib.VT_ADJ_EF, "roc": lib.VT_ADJ_ROC}


def roc_list_bits(lists: np.ndarray, universe: int) -> np.ndarray:
    """The size in bits of each list under the roc adjacency code ((n, stride) int32, sorted,
    -1 after the last entry)."""
    lists = np.ascontiguousarray(lists, dtype=np.int32)
    degree = (lists >= 0).sum(axis=1).astype(np.uint8)
    bits = np.zeros(len(lists), dtype=np.int64)
    rc = lib.vt_adj_roc_lengths(_ptr("int32_t *", lists), len(lists), lists.shape[1], _ptr("uint8_t *", degree),
                                universe, _ptr("int64_t *", bits))
    if rc:
        raise CorruptData(f"vt_adj_roc_lengths failed with code {rc} (lists must be sorted sets)")
    return bits


class Adjacency:
    """Neighbour lists (sorted sets below `universe`) coded back to back (native/adjacency.c,
    adjacency_set.c): words, the list sizes, and the bit position of each list, computed from
    the sizes. packed and ef sizes follow from the length; roc's are stored, one per length
    (`list_bits`, the table its writer measured)."""

    def __init__(self, codec: str, words: np.ndarray, degree: np.ndarray, universe: int, max_degree: int,
                 list_bits: np.ndarray | None = None):
        self.name, self.codec, self.universe = codec, ADJ_CODECS[codec], universe
        self.words, self.degree = words, degree
        if list_bits is None:
            list_bits = [lib.vt_adj_bits(self.codec, n, max(universe, 1)) for n in range(max_degree + 1)]
        self.list_bits = np.asarray(list_bits, dtype=np.int64)
        self.pos = np.zeros(len(degree), dtype=np.int64)
        if len(degree):
            np.cumsum(self.list_bits[degree[:-1]], out=self.pos[1:])
        self.total_bits = int(self.pos[-1] + self.list_bits[degree[-1]]) if len(degree) else 0

    @classmethod
    def encode(cls, codec: str, lists: np.ndarray, universe: int) -> Adjacency:
        """Code (n, stride) int32 lists, each sorted with -1 after its last entry."""
        lists = np.ascontiguousarray(lists, dtype=np.int32)
        degree = (lists >= 0).sum(axis=1).astype(np.uint8)
        stride = lists.shape[1]
        list_bits = None
        if codec == "roc":
            list_bits = np.zeros(stride + 1, dtype=np.int64)
            np.maximum.at(list_bits, degree, roc_list_bits(lists, universe))
        probe = cls(codec, np.zeros(0, np.uint64), degree, universe, stride, list_bits)
        words = np.zeros((probe.total_bits + 63) // 64, dtype=np.uint64)
        if codec == "roc":
            rc = lib.vt_adj_roc_encode(_ptr("int32_t *", lists), len(lists), stride, _ptr("uint8_t *", degree),
                                       universe, _ptr("int64_t *", probe.pos), _opt("uint8_t *", words),
                                       words.nbytes)
        else:
            rc = lib.vt_adj_encode(probe.codec, _ptr("int32_t *", lists), len(lists), stride,
                                   _ptr("uint8_t *", degree), universe, _opt("uint64_t *", words), len(words))
        if rc:
            raise CorruptData(f"adjacency encoding failed with code {rc} (lists must be sorted sets)")
        return cls(codec, words, degree, universe, stride, list_bits)

    def decode(self, stride: int) -> np.ndarray:
        out = np.empty((len(self.degree), stride), dtype=np.int32)
        if len(out) and lib.vt_adj_decode_rows(self.codec, _opt("uint64_t *", self.words), self.words.size * 64,
                                               _ptr("int64_t *", self.pos), _ptr("uint8_t *", self.degree),
                                               len(out), self.universe, _ptr("int32_t *", out), stride):
            raise CorruptData("inconsistent adjacency stream")
        return out


class Graph:
    """The cffi view (vt_hnsw) of an HNSW graph's arrays, which it keeps alive."""

    def __init__(self, m: int, levels: np.ndarray, level0: np.ndarray | None, upper: np.ndarray,
                 adjacency: Adjacency | None = None, r0: int | None = None):
        """level0: (n, r0) int32 lists (r0 = 2m unless given), or None with `adjacency`, the
        same lists coded; upper: levels 1.. (m slots each)."""
        r0 = r0 or 2 * m
        assert levels.dtype == np.uint8 and upper.dtype == np.int32 and levels.flags.c_contiguous
        assert (level0 is None) == (adjacency is not None) and upper.flags.c_contiguous
        if level0 is None:
            level0 = np.zeros((0, r0), np.int32)
        else:
            assert level0.dtype == np.int32 and level0.shape == (len(levels), r0) and level0.flags.c_contiguous
        self.m, self.levels, self.level0, self.upper = m, levels, level0, upper
        self.upper_offsets = np.zeros(len(levels) + 1, dtype=np.int64)
        np.cumsum(levels.astype(np.int64) * m, out=self.upper_offsets[1:])
        assert self.upper_offsets[-1] == len(upper)
        self.c = ffi.new("vt_hnsw *")
        self.c.n, self.c.m, self.c.r0 = len(levels), m, r0
        self.c.levels = _ptr("uint8_t *", levels)
        self.c.level0 = _ptr("int32_t *", level0)
        self.c.upper = _ptr("int32_t *", upper)
        self.c.upper_offsets = _ptr("int64_t *", self.upper_offsets)
        self.adjacency = adjacency
        if adjacency is not None:
            assert len(adjacency.degree) == len(levels) and adjacency.universe == len(levels)
            self.c.level0_codec = adjacency.codec
            self.c.level0_words = _ptr("uint64_t *", adjacency.words)
            self.c.level0_nbits = adjacency.words.size * 64
            self.c.level0_pos = _ptr("int64_t *", adjacency.pos)
            self.c.degree = _ptr("uint8_t *", adjacency.degree)
        self.set_entry(len(levels))

    def set_entry(self, n: int) -> None:
        """Entry point of the graph made of nodes [0, n): the first node of the highest level."""
        if n == 0:
            self.c.entry, self.c.max_level = -1, -1
        else:
            self.set_entry_node(int(np.argmax(self.levels[:n])))

    def set_entry_node(self, node: int) -> None:
        self.c.entry, self.c.max_level = node, int(self.levels[node])


def _check_graph(rc: int, what: str) -> None:
    if rc == -4:
        raise MemoryError(f"{what}: out of memory")
    if rc != 0:
        raise CorruptData(f"{what} failed with code {rc} (inconsistent graph)")


def hnsw_search(graph: Graph, kind: int, queries: np.ndarray, codes: np.ndarray, metric: str, ef: int,
                k: int | None = None, radius: float | None = None, params: np.ndarray | None = None,
                m: int = 0, ksub: int = 0, ordered: bool = True):
    """Top-k (distances, rows) n x k, or every result of the ef best within a radius
    (lims, distances, rows): the graph searched with distances to its encoded rows."""
    queries = _f32(queries)
    nq, d = queries.shape
    assert codes.ndim == 2 and codes.dtype == np.uint8
    params = _f32(params if params is not None else np.zeros(1, np.float32))
    out = _Collector(nq, k, radius, ordered)
    rc = lib.vt_hnsw_search(graph.c, kind, _ptr("float *", queries), nq, d, _codes_ptr(codes), len(codes),
                            codes.shape[1], _ptr("float *", params), m, ksub, METRICS[metric], ef, out.ptr)
    result = out.result()
    _check_graph(rc, "vt_hnsw_search")
    return result


class GraphBuilder:
    """Links nodes into a Graph in deterministic steps (see native/hnsw.c), threads sharing
    each step; vectors (n, d) float32 are the rows the build measures."""

    def __init__(self, graph: Graph, vectors: np.ndarray, metric: str, threads: int):
        self.g, self.x = graph, _f32(vectors)
        assert self.x.shape[0] == graph.c.n
        self.metric, self.threads = METRICS[metric], max(1, threads)
        self.ctx = [lib.vt_hnsw_ctx_new(graph.c.n) for _ in range(self.threads)]
        if any(c == ffi.NULL for c in self.ctx):
            self.close()
            raise MemoryError("could not allocate graph build scratch")
        self.pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def close(self) -> None:
        for c in self.ctx:
            if c != ffi.NULL:
                lib.vt_hnsw_ctx_free(c)
        self.ctx = []
        if self.pool:
            self.pool.shutdown()

    def _run(self, fn, parts: list) -> None:
        jobs = [(i, p) for i, p in enumerate(parts) if len(p)]
        runner = (lambda ip: fn(self.ctx[ip[0]], ip[1]))
        for rc in (self.pool.map(runner, jobs) if self.pool and len(jobs) > 1 else map(runner, jobs)):
            _check_graph(rc, "graph build")

    def insert(self, nodes: np.ndarray, ef_construction: int) -> None:
        """HNSW: link a batch of nodes into the graph of the nodes linked so far (entry point as
        set: Graph.set_entry before the first batch); the batch's first node of the highest
        level becomes the entry point when it tops the graph."""
        nodes = np.ascontiguousarray(nodes, dtype=np.int32)
        xp, d = _ptr("float *", self.x), self.x.shape[1]
        self._run(lambda ctx, part: lib.vt_hnsw_link_new(self.g.c, xp, d, self.metric, _ptr("int32_t *", part),
                                                         len(part), ef_construction, ctx),
                  np.array_split(nodes, self.threads))
        levels = self.g.levels[nodes]
        for level in range(min(int(levels.max()), max(self.g.c.max_level, 0)) + 1):
            self.reverse(nodes, level)
        best = int(np.argmax(levels))
        if levels[best] > self.g.c.max_level:
            self.g.set_entry_node(int(nodes[best]))

    def link_nsg(self, knn: Graph, nodes: np.ndarray, search_l: int, pool_cap: int) -> None:
        """NSG: every node's list from a search of the k-NN graph (read only), then the
        reverse links of all of them."""
        nodes = np.ascontiguousarray(nodes, dtype=np.int32)
        xp, d = _ptr("float *", self.x), self.x.shape[1]
        self._run(lambda ctx, part: lib.vt_nsg_link(knn.c, self.g.c, xp, d, self.metric, _ptr("int32_t *", part),
                                                    len(part), search_l, pool_cap, ctx),
                  np.array_split(nodes, self.threads))
        self.reverse(nodes, 0)

    def reverse(self, nodes: np.ndarray, level: int) -> None:
        """Add the links back to `nodes` from everything they list at `level`, target by target
        (each target's pairs go to one thread)."""
        xp, d = _ptr("float *", self.x), self.x.shape[1]
        cap = len(nodes) * (self.g.c.r0 if level == 0 else self.g.m)
        pairs = np.empty(cap, dtype=np.uint64)
        count = lib.vt_hnsw_reverse_pairs(self.g.c, _ptr("int32_t *", nodes), len(nodes), level,
                                          _opt("uint64_t *", pairs), cap)
        _check_graph(0 if count >= 0 else int(count), "vt_hnsw_reverse_pairs")
        if count == 0:
            return
        pairs = np.sort(pairs[:count])
        targets = pairs >> np.uint64(32)
        cuts = np.searchsorted(targets, targets[np.linspace(0, len(pairs), self.threads + 1,
                                                            dtype=np.int64)[1:-1]], side="left")
        self._run(lambda ctx, part: lib.vt_hnsw_add_reverse(self.g.c, xp, d, self.metric, level,
                                                            _ptr("uint64_t *", part), len(part), ctx),
                  np.split(pairs, cuts))


def fs_pack_blocks(codes: np.ndarray) -> np.ndarray:
    """4-bit codes (n, m), one per byte -> fast-scan blocks (ceil(n/32), 16 m)."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    n, m = codes.shape
    blocks = np.empty(((n + 31) // 32, 16 * m), dtype=np.uint8)
    if n:
        lib.vt_fs_pack_blocks(_ptr("uint8_t *", codes), n, m, _ptr("uint8_t *", blocks))
    return blocks


def fs_accumulate(blocks: np.ndarray, m: int, qlut: np.ndarray) -> np.ndarray:
    """uint16 sums of quantized table entries for every vector of the blocks (n_blocks x 32)."""
    blocks = np.ascontiguousarray(blocks, dtype=np.uint8)
    qlut = np.ascontiguousarray(qlut, dtype=np.uint8)
    out = np.empty(len(blocks) * 32, dtype=np.uint16)
    if len(blocks):
        lib.vt_fs_accumulate(_ptr("uint8_t *", blocks), len(blocks), m, _ptr("uint8_t *", qlut),
                             _ptr("uint16_t *", out))
    return out


def fs_quantize_lut(lut: np.ndarray) -> tuple[np.ndarray, float, float]:
    lut = np.ascontiguousarray(lut, dtype=np.float32)
    qlut = np.empty(lut.shape, dtype=np.uint8)
    bias, scale = ffi.new("float *"), ffi.new("float *")
    if lib.vt_fs_quantize_lut(_ptr("float *", lut), lut.shape[0], _ptr("uint8_t *", qlut), bias, scale):
        raise MemoryError("vt_fs_quantize_lut: out of memory")
    return qlut, bias[0], scale[0]


def sq8_distances(x: np.ndarray, codes: np.ndarray, vmin: np.ndarray, step: np.ndarray, metric: str = "l2"):
    x, codes = _f32(x), np.ascontiguousarray(codes, dtype=np.uint8)
    out = np.empty(len(codes), dtype=np.float32)
    lib.vt_sq8_ny(_ptr("float *", x), _ptr("uint8_t *", codes), len(codes), len(x), _ptr("float *", _f32(vmin)),
                  _ptr("float *", _f32(step)), METRICS[metric], _ptr("float *", out))
    return out


def fp16_distances(x: np.ndarray, codes: np.ndarray, metric: str = "l2"):
    x, codes = _f32(x), np.ascontiguousarray(codes, dtype=np.float16)
    out = np.empty(len(codes), dtype=np.float32)
    lib.vt_fp16_ny(_ptr("float *", x), _ptr("uint16_t *", codes.view(np.uint16)), len(codes), len(x),
                   METRICS[metric], _ptr("float *", out))
    return out


def sq4_distances(x: np.ndarray, codes: np.ndarray, vmin: np.ndarray, step: np.ndarray, metric: str = "l2"):
    x, codes = _f32(x), np.ascontiguousarray(codes, dtype=np.uint8)
    assert codes.shape[1] == (len(x) + 1) // 2
    out = np.empty(len(codes), dtype=np.float32)
    lib.vt_sq4_ny(_ptr("float *", x), _codes_ptr(codes), len(codes), len(x), _ptr("float *", _f32(vmin)),
                  _ptr("float *", _f32(step)), METRICS[metric], _ptr("float *", out))
    return out


def bf16_distances(x: np.ndarray, codes: np.ndarray, metric: str = "l2"):
    """codes: uint16 (n, d), the high halves of float32 values."""
    x, codes = _f32(x), np.ascontiguousarray(codes, dtype=np.uint16)
    out = np.empty(len(codes), dtype=np.float32)
    lib.vt_bf16_ny(_ptr("float *", x), _ptr("uint16_t *", codes) if codes.size else ffi.cast("uint16_t *", 0),
                   len(codes), len(x), METRICS[metric], _ptr("float *", out))
    return out


def adc_distances(lut: np.ndarray, codes: np.ndarray, extra_norm: bool = False, bias: float = 0.0):
    lut, codes = _f32(lut), np.ascontiguousarray(codes, dtype=np.uint8)
    m, ksub = lut.shape
    if not 0 < ksub <= 256 or ksub & (ksub - 1) or codes.shape[1] < m + 4 * bool(extra_norm):
        raise ValueError("adc_distances: tables of a power of two up to 256 entries, codes of m bytes (+4 with a norm)")
    out = np.empty(len(codes), dtype=np.float32)
    lib.vt_adc_ny(_ptr("float *", lut), m, ksub, _ptr("uint8_t *", codes), len(codes), codes.shape[1], bias,
                  int(extra_norm), _ptr("float *", out))
    return out


def build_lut(kind: int, x: np.ndarray, codebooks: np.ndarray, metric: str = "l2") -> np.ndarray:
    x, codebooks = _f32(x), _f32(codebooks)
    m, ksub = codebooks.shape[:2]
    lut = np.empty((m, ksub), dtype=np.float32)
    lib.vt_build_lut(kind, _ptr("float *", x), len(x), _ptr("float *", codebooks), m, ksub, METRICS[metric],
                     _ptr("float *", lut))
    return lut


def _u64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.uint64)


def packed_encode(values: np.ndarray, bits: int) -> np.ndarray:
    values = _u64(values)
    words = np.empty(lib.vt_packed_words(len(values), bits), dtype=np.uint64)
    if lib.vt_packed_encode(_ptr("uint64_t *", values), len(values), bits, _ptr("uint64_t *", words), len(words)):
        raise ValueError("a value does not fit the bit width")
    return words


def packed_get(words: np.ndarray, bits: int, n: int, idx: np.ndarray, threads: int = 1) -> np.ndarray:
    """Elements idx (any shape) of n packed `bits`-bit values, all ones where idx < 0 (a search's
    empty slot): one C call a part, equal parts on threads."""
    words = _u64(words)

    def fill(part, out):
        if lib.vt_packed_get(_ptr("uint64_t *", words), len(words), bits, n, _ptr("int64_t *", part), len(part),
                             _ptr("uint64_t *", out)):
            raise CorruptData("corrupt packed ids or index out of range")

    return _in_parts(idx, threads, np.uint64, fill)


def _in_parts(rows: np.ndarray, threads: int, dtype, fill) -> np.ndarray:
    """An array of rows' shape and dtype, fill(rows part, its part) over equal parts of the
    flattened rows on threads (the native calls release the GIL)."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    flat, out = rows.reshape(-1), np.empty(rows.shape, dtype=dtype)
    dest = out.reshape(-1)
    if len(flat):
        map_threads(threads, lambda ab: fill(flat[ab[0]:ab[1]], dest[ab[0]:ab[1]]), row_ranges(len(flat), threads))
    return out


def take_int64(table: np.ndarray, pos: np.ndarray, threads: int = 1) -> np.ndarray:
    """table[pos] with -1 where pos < 0 (a search's empty slots), in one pass, split in equal
    parts on threads; ValueError if a position is past the table."""
    table = np.ascontiguousarray(table, dtype=np.int64)

    def fill(rows, out):
        if lib.vt_take_int64(_ptr("int64_t *", table), len(table), _ptr("int64_t *", rows), len(rows),
                             _ptr("int64_t *", out)):
            raise ValueError("position past the id table")

    return _in_parts(pos, threads, np.int64, fill)


def ef_encode(sorted_values: np.ndarray, universe: int) -> np.ndarray:
    values = _u64(sorted_values)
    words = np.empty(lib.vt_ef_words(len(values), universe), dtype=np.uint64)
    if lib.vt_ef_encode(_ptr("uint64_t *", values), len(values), universe, _ptr("uint64_t *", words), len(words)):
        raise CorruptData("values not sorted or not below the universe")
    return words


def _words_ptr(words: np.ndarray):
    return _ptr("uint64_t *", words) if len(words) else ffi.cast("uint64_t *", 0)


def ef_get(words: np.ndarray, n: int, universe: int, idx: np.ndarray) -> np.ndarray:
    """Elements idx of an Elias-Fano list of n values below universe."""
    words, idx = _u64(words), np.ascontiguousarray(idx, dtype=np.int64)
    out = np.empty(len(idx), dtype=np.uint64)
    if len(idx) and lib.vt_ef_get(_words_ptr(words), len(words), n, universe, _ptr("int64_t *", idx), len(idx),
                                  _ptr("uint64_t *", out)):
        raise CorruptData("corrupt Elias-Fano list or index out of range")
    return out


def ef_decode(words: np.ndarray, n: int, universe: int) -> np.ndarray:
    words = _u64(words)
    out = np.empty(max(n, 1), dtype=np.uint64)
    got = lib.vt_ef_decode(_words_ptr(words), len(words), n, universe, _ptr("uint64_t *", out))
    if got != n:
        raise CorruptData("corrupt Elias-Fano list")
    return out[:n]


def ef_get_rows(words: np.ndarray, word_offsets: np.ndarray, list_offsets: np.ndarray, universe: int,
                rows: np.ndarray, threads: int = 1) -> np.ndarray:
    """Values of rows (any shape) of an inverted file whose lists are Elias-Fano coded, all
    ones for a row < 0 (a search's empty slot): one C call a part, equal parts on threads."""
    words = _u64(words)
    word_offsets = np.ascontiguousarray(word_offsets, np.int64)
    list_offsets = np.ascontiguousarray(list_offsets, np.int64)

    def fill(part, out):
        if lib.vt_ef_get_rows(_words_ptr(words), len(words), _ptr("int64_t *", word_offsets),
                              _ptr("int64_t *", list_offsets), len(list_offsets) - 1, universe,
                              _ptr("int64_t *", part), len(part), _ptr("uint64_t *", out)):
            raise CorruptData("corrupt Elias-Fano ids or row past the lists")

    return _in_parts(rows, threads, np.uint64, fill)


def roc_encode(sorted_ids: np.ndarray, universe: int, counts=None) -> np.ndarray:
    """One ROC stream of lists (counts[l] sorted ids each, concatenated; one list by default)."""
    ids = _u64(sorted_ids)
    counts = np.ascontiguousarray([len(ids)] if counts is None else counts, dtype=np.int64)
    cap = lib.vt_roc_max_words(len(ids), universe)
    out = np.empty(cap, dtype=np.uint32)
    got = lib.vt_roc_encode(_ptr("uint64_t *", ids) if len(ids) else ffi.NULL, _ptr("int64_t *", counts), len(counts),
                            universe, _ptr("uint32_t *", out), cap)
    if got < 0:
        raise CorruptData(f"ROC encoding failed ({got}): ids must be distinct, sorted and below the universe")
    return out[:got].copy()


def roc_decode(stream: np.ndarray, n: int | np.ndarray, universe: int) -> np.ndarray:
    """The sorted ids of a stream's lists (n ids, or counts[l] for each list), concatenated."""
    stream = np.ascontiguousarray(stream, dtype=np.uint32)
    counts = np.ascontiguousarray(np.atleast_1d(n), dtype=np.int64)
    total = int(counts.sum())
    out = np.empty(max(total, 1), dtype=np.uint64)
    if lib.vt_roc_decode(_ptr("uint32_t *", stream), len(stream), _ptr("int64_t *", counts), len(counts), universe,
                         _ptr("uint64_t *", out)):
        raise CorruptData("corrupt ROC stream")
    return out[:total]


def roc_encode_bits(sorted_ids: np.ndarray, universe: int, counts: np.ndarray,
                    starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC bit streams of lists (counts[l] sorted ids each, concatenated), one a group of lists
    (starts[g] .. starts[g + 1] - 1): (uint32 words, the groups' bit offsets and the total)."""
    ids = _u64(sorted_ids)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    cap = lib.vt_roc_max_words(len(ids), universe) + len(starts)
    out = np.empty(cap, dtype=np.uint32)
    offsets = np.empty(len(starts), dtype=np.int64)
    got = lib.vt_roc_encode_bits(_ptr("uint64_t *", ids) if len(ids) else ffi.NULL, _ptr("int64_t *", counts),
                                 len(counts), _ptr("int64_t *", starts), len(starts) - 1, universe,
                                 _ptr("uint32_t *", out), cap, _ptr("int64_t *", offsets))
    if got < 0:
        raise CorruptData(f"ROC encoding failed ({got}): ids must be distinct, sorted and below the universe")
    return out[:got].copy(), offsets


def rice_encode(values: np.ndarray, center: int, k: int) -> np.ndarray:
    """Signed integers Rice-coded around center with parameter k (uint64 words)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    zig = np.where(values >= center, 2 * (values - center), 2 * (center - values) - 1).astype(np.uint64)
    cap = int(((zig >> np.uint64(k)).sum() + len(values) * (k + 1)) // 64) + 2 if len(values) else 1
    out = np.empty(cap, dtype=np.uint64)
    got = lib.vt_rice_encode(_ptr("int64_t *", values), len(values), center, k, _ptr("uint64_t *", out), cap)
    if got < 0:
        raise ValueError(f"Rice coding failed ({got}): a value too far from the center for k={k}")
    return out[:got].copy()


def rice_decode(words: np.ndarray, count: int, center: int, k: int) -> np.ndarray:
    words = _u64(words)
    out = np.empty(count, dtype=np.int64)
    if lib.vt_rice_decode(_words_ptr(words), len(words), count, center, k, _ptr("int64_t *", out)):
        raise CorruptData("corrupt Rice-coded values")
    return out


def roc_groups(counts: np.ndarray, min_ids: int) -> np.ndarray:
    """The first list of each ROC bit stream, then the lists' number: lists chained in order until
    a stream holds min_ids ids."""
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    starts = np.empty(len(counts) + 1, dtype=np.int64)
    got = lib.vt_roc_groups(_ptr("int64_t *", counts), len(counts), min_ids, _ptr("int64_t *", starts))
    if got < 0:
        raise CorruptData("negative list length or group size")
    return starts[:got + 1].copy()


def roc_cuts(list_offsets: np.ndarray, starts: np.ndarray, sorted_rows: np.ndarray, parts: int) -> np.ndarray:
    """Cuts of sorted rows of ROC-coded lists into pieces of about equal work: vt_roc_cuts."""
    rows = np.ascontiguousarray(sorted_rows, dtype=np.int64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    cuts = np.empty(parts + 1, np.int64)
    if lib.vt_roc_cuts(_ptr("int64_t *", np.ascontiguousarray(list_offsets, np.int64)), len(list_offsets) - 1,
                       _ptr("int64_t *", starts), len(starts) - 1, _ptr("int64_t *", rows) if len(rows) else ffi.NULL,
                       len(rows), parts, _ptr("int64_t *", cuts)):
        raise ValueError("rows out of order or past the lists, or streams that do not cover them")
    return cuts


def roc_place_rows(list_offsets: np.ndarray, split_of: np.ndarray, main_offsets: np.ndarray, first: np.ndarray,
                   part_offsets: np.ndarray, sorted_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(place, part) of sorted rows of lists some of which are coded in parts: vt_roc_place_rows."""
    rows = np.ascontiguousarray(sorted_rows, dtype=np.int64)
    first = np.ascontiguousarray(first, dtype=np.int64)
    placed, part = np.empty(len(rows), np.int64), np.empty(len(rows), np.int8)
    if len(rows) and lib.vt_roc_place_rows(_ptr("int64_t *", np.ascontiguousarray(list_offsets, np.int64)),
                                           len(list_offsets) - 1, _ptr("int64_t *", np.ascontiguousarray(split_of, np.int64)),
                                           _ptr("int64_t *", np.ascontiguousarray(main_offsets, np.int64)),
                                           _ptr("int64_t *", first), first.shape[1] - 1,
                                           _ptr("int64_t *", np.ascontiguousarray(part_offsets, np.int64)),
                                           _ptr("int64_t *", rows), len(rows), _ptr("int64_t *", placed),
                                           _ptr("int8_t *", part)):
        raise ValueError("rows out of order or past the lists")
    return placed, part


def roc_predicted_bits(universe: int, counts: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each group's predicted bit-stream length (integer arithmetic: the same on every machine)."""
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    out = np.empty(max(len(starts) - 1, 0), dtype=np.int64)
    rc = lib.vt_roc_predicted_bits(universe, _ptr("int64_t *", counts), len(counts), _ptr("int64_t *", starts),
                                   len(starts) - 1, _ptr("int64_t *", out))
    if rc == -3:
        raise MemoryError("no memory to predict the ROC stream lengths")
    if rc:
        raise CorruptData("ROC groups or list lengths inconsistent")
    return out


def roc_get_rows_bits(data: np.ndarray, bit_offsets: np.ndarray, starts: np.ndarray, list_offsets: np.ndarray,
                      universe: int, rows: np.ndarray) -> np.ndarray:
    """Values of rows of an inverted file whose lists are ROC bit streams, a stream a group of
    lists (starts; one C call; sorted rows decode each stream once)."""
    data, rows = np.ascontiguousarray(data, dtype=np.uint32), np.ascontiguousarray(rows, dtype=np.int64)
    starts = np.ascontiguousarray(starts, np.int64)
    out = np.empty(len(rows), dtype=np.uint64)
    if len(rows) and lib.vt_roc_get_rows_bits(_ptr("uint32_t *", data), len(data),
                                              _ptr("int64_t *", np.ascontiguousarray(bit_offsets, np.int64)),
                                              _ptr("int64_t *", starts), len(starts) - 1,
                                              _ptr("int64_t *", np.ascontiguousarray(list_offsets, np.int64)),
                                              len(list_offsets) - 1, universe, _ptr("int64_t *", rows), len(rows),
                                              _ptr("uint64_t *", out)):
        raise CorruptData("corrupt ROC ids or row out of range")
    return out


def roc_get_rows(data: np.ndarray, word_offsets: np.ndarray, list_offsets: np.ndarray, universe: int,
                 rows: np.ndarray, group: int = 1) -> np.ndarray:
    """Values of rows of an inverted file whose lists are ROC coded in streams of `group` lists
    (one C call; sorted rows decode each stream once)."""
    data, rows = np.ascontiguousarray(data, dtype=np.uint32), np.ascontiguousarray(rows, dtype=np.int64)
    out = np.empty(len(rows), dtype=np.uint64)
    if len(rows) and lib.vt_roc_get_rows(_ptr("uint32_t *", data), len(data),
                                         _ptr("int64_t *", np.ascontiguousarray(word_offsets, np.int64)),
                                         _ptr("int64_t *", np.ascontiguousarray(list_offsets, np.int64)),
                                         len(list_offsets) - 1, group, universe, _ptr("int64_t *", rows), len(rows),
                                         _ptr("uint64_t *", out)):
        raise CorruptData("corrupt ROC ids or row out of range")
    return out


def wm_build(symbols: np.ndarray, levels: int) -> np.ndarray:
    """Wavelet matrix over symbols (uint32, each below 2^levels)."""
    symbols = np.ascontiguousarray(symbols, dtype=np.uint32)
    words = np.empty(lib.vt_wm_words(len(symbols), levels), dtype=np.uint64)
    rc = lib.vt_wm_build(_ptr("uint32_t *", symbols) if len(symbols) else ffi.NULL, len(symbols), levels,
                         _ptr("uint64_t *", words), len(words))
    if rc:
        raise ValueError(f"wavelet matrix build failed ({rc})")
    return words


def wm_build_shaped(symbols: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Huffman-shaped wavelet matrix over symbols: symbol s has a code of lens[s] bits (a
    complete or Kraft-fitting set of lengths, at most 32; 0 for symbols that never occur)."""
    symbols = np.ascontiguousarray(symbols, dtype=np.uint32)
    lens = np.ascontiguousarray(lens, dtype=np.uint8)
    levels = int(lens.max(initial=0))
    sym_ptr = _ptr("uint32_t *", symbols) if len(symbols) else ffi.NULL
    lens_ptr = _ptr("uint8_t *", lens) if len(lens) else ffi.NULL
    size = lib.vt_wm_shaped_words(sym_ptr, len(symbols), lens_ptr, len(lens), levels)
    if size < 0:
        raise ValueError("a symbol without a code, or outside the alphabet")
    words = np.empty(size, dtype=np.uint64)
    rc = lib.vt_wm_build_shaped(sym_ptr, len(symbols), lens_ptr, len(lens), levels, _ptr("uint64_t *", words), size)
    if rc:
        raise ValueError(f"shaped wavelet matrix build failed ({rc}): code lengths that do not fit")
    return words


def sort_rows(rows: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows in order, where each came from: uint32), stably, for rows below bound <= 2^32: a
    radix sort, 0.05 ms for a search's 10,240 rows where np.argsort took 0.13."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if len(rows) > 1 << 32:
        raise ValueError("more than 2^32 rows to sort at once")
    pairs, tmp = np.empty(len(rows), np.uint64), np.empty(len(rows), np.uint64)
    if len(rows) and lib.vt_sort_rows(_ptr("int64_t *", rows), len(rows), bound, _ptr("uint64_t *", pairs),
                                      _ptr("uint64_t *", tmp)) != len(rows):
        raise ValueError(f"a row outside [0, {bound}), or a bound past 2^32")
    halves = pairs.view(np.uint32).reshape(-1, 2)  # little-endian: (index, row)
    return halves[:, 1].astype(np.int64), halves[:, 0]


class WaveletReader:
    """A wavelet matrix opened for selects (native/wavelet.c): its rank / select aid and each
    list's start, computed from the words (read in place, so held here) and kept native, where
    no caller can pair them with other bits. counts: each list's length."""

    def __init__(self, words: np.ndarray, nlist: int):
        self.words = _u64(words)
        self.counts = np.empty(max(nlist, 0), dtype=np.int64)
        err = ffi.new("int *")
        reader = lib.vt_wm_reader_new(_ptr("uint64_t *", self.words), len(self.words), nlist,
                                      _ptr("int64_t *", self.counts), err)
        if reader == ffi.NULL:
            if err[0] == -3:
                raise MemoryError("no memory for the wavelet matrix's select aid")
            raise CorruptData("corrupt wavelet matrix")
        self._reader = ffi.gc(reader, lib.vt_wm_reader_free)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    def select_rows(self, rows: np.ndarray, threads: int = 1) -> np.ndarray:
        """The ranks (ids) of rows of an inverted file whose lists have these counts, any shape,
        -1 where a row is < 0 (a search's empty slot), in one native pass (rows put in order
        there), split in equal parts on threads."""
        def fill(part, out):
            rc = lib.vt_wm_reader_rows(self._reader, _ptr("int64_t *", part), len(part), _ptr("int64_t *", out))
            if rc == -3:
                raise MemoryError("no memory to put the rows in order")
            if rc:
                raise CorruptData("row past the lists of the wavelet matrix")

        return _in_parts(rows, threads, np.int64, fill)

    def decode_all(self) -> np.ndarray:
        """Every row's rank, in row order: a pass a level over all positions (a select a row
        and level costs far more once every row is asked)."""
        out = np.empty(int(self.offsets[-1]), dtype=np.int64)
        if lib.vt_wm_reader_decode_all(self._reader, _ptr("int64_t *", out)) == -3:
            raise MemoryError("no memory to decode the wavelet matrix")
        return out

    def select(self, symbol: int, j: np.ndarray) -> np.ndarray:
        """Positions of the j-th occurrences of symbol (a list below nlist)."""
        j = np.asarray(j, dtype=np.int64)
        if not 0 <= symbol < len(self.counts) or (len(j) and (j.min() < 0 or j.max() >= self.counts[symbol])):
            raise CorruptData(f"no such occurrence of symbol {symbol}")
        return self.select_rows(self.offsets[symbol] + j)


def code_ans_encode(codes: np.ndarray, m: int, k: int) -> np.ndarray:
    """One list's codes (n, >= m bytes; the first m are sub-codes below k) -> rANS words."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    n = len(codes)
    cap = lib.vt_code_ans_max_words(n, m)
    out = np.empty(cap, dtype=np.uint32)
    got = lib.vt_code_ans_encode(_ptr("uint8_t *", codes) if codes.size else ffi.NULL, n, m,
                                 codes.shape[1] if codes.ndim == 2 else m, k, _ptr("uint32_t *", out), cap)
    if got < 0:
        raise ValueError(f"code compression failed ({got})")
    return out[:got].copy()


def code_ans_decode(stream: np.ndarray, n: int, m: int, k: int) -> np.ndarray:
    stream = np.ascontiguousarray(stream, dtype=np.uint32)
    out = np.empty((n, m), dtype=np.uint8)
    if lib.vt_code_ans_decode(_ptr("uint32_t *", stream), len(stream), n, m, m, k,
                              _ptr("uint8_t *", out) if out.size else ffi.NULL):
        raise CorruptData("corrupt compressed codes")
    return out


def crc32c(data, crc: int = 0) -> int:
    """CRC-32C of a bytes-like object or array, continuing from crc."""
    buf = ffi.from_buffer(data)
    return lib.vt_crc32c(crc, ffi.cast("uint8_t *", buf), len(buf))
