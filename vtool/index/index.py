"""An index composed of parts, each owning its sections of the .vti file and its own check:

    transform (OPQ) -> structure (Flat | IVF) -> code store (rows | fast-scan | ANS) of an
    encoding (Flat, PQ, SQ, RQ, ...);  id map (int64 | packed | ef | roc | wt);  refiner (RFlat)

A model is an index with N = 0. The same object serves the Python API (train, add, search,
range_search, save in memory) and the file drivers of vtool/commands/build.py. A search scans
(list, row) positions and maps only its final results to user ids.
"""

from __future__ import annotations

import contextlib

import numpy as np

from vtool import __version__, _native
from vtool.codecs.ids import IdCodec, check_id_sections, id_sections, open_codec
from vtool.errors import CorruptData, VtoolError
from vtool.index.codestore import store_class
from vtool.index.container import VtiFile, write_vti
from vtool.index.refine import DEFAULT_K_FACTOR, RFlat, exact_distances, gather, rerank, vectors_by_id
from vtool.index.spec import IndexSpec, parse_spec
from vtool.io.vectors import check_values, unit_rows
from vtool.workers import PARTS_PER_THREAD, blas_held_to, map_threads, row_ranges

METRIC_NAMES = ("l2", "ip", "cosine")  # cosine: ip over unit-length vectors
QUERY_CHUNK = 256  # fewest queries a search thread takes at once
CHUNK_BUDGET = 1 << 22  # floats of per-query scratch one chunk may hold (16 MB)


class Index:
    def __init__(self, spec: IndexSpec, d: int, metric: str, options: dict | None = None):
        """Untrained parts for vectors of dimension d; options: training options and header fields.
        metric cosine is inner product over vectors scaled to unit length: the public methods
        (train, add, search, range_search) scale what they are given (self.prepare); file
        drivers feeding the inner steps read scaled rows (open_vectors(normalize=...))."""
        if metric not in METRIC_NAMES:
            raise VtoolError(f"unknown metric {metric!r}; choose {', '.join(METRIC_NAMES)}")
        spec.check_dimension(d)
        options = options or {}
        self.spec, self.d, self.metric_name = spec, d, metric
        self.metric = "ip" if metric == "cosine" else metric  # what the kernels compute
        dv = spec.vector_dim(d)
        self.transform = spec.transform.cls.build(d, spec.transform.params, options) if spec.transform else None
        self.structure = spec.structure.cls(dv, **spec.structure.params)
        self.structure.configure(options)
        self.encoding = spec.coding.cls.build(dv, spec.coding.params, options)
        self.refiner = RFlat(d) if spec.refine else None
        self.header: dict = {}
        self.path: str | None = None
        self.mapping: np.ndarray | None = None  # the file a loaded index maps (memory.release)
        self._set_rows(store_class(self.encoding, {}).pack(self.encoding, np.zeros((0, self.encoding.code_size),
                                                                                   np.uint8), self.list_offsets),
                       open_codec({"ids": np.zeros(0, np.int64)}, {}, self.list_offsets), {})
        self._cache: dict = {}

    def _set_rows(self, store_arrays: dict, id_codec: IdCodec, header: dict) -> None:
        self.store = store_class(self.encoding, header)(self.encoding, self.list_offsets, store_arrays)
        self.store_arrays = store_arrays
        self.id_codec = id_codec
        self._cache = {}

    # -- what the index holds -----------------------------------------------------------
    @property
    def list_offsets(self) -> np.ndarray:
        return self.structure.list_offsets

    @property
    def ntotal(self) -> int:
        return self.structure.ntotal

    @property
    def nlist(self) -> int:
        return self.structure.nlist

    @property
    def list_sizes(self) -> np.ndarray:
        return self.structure.list_sizes

    @property
    def centroids(self) -> np.ndarray | None:
        return self.structure.centroids

    @property
    def codes(self) -> np.ndarray:
        """The store's code bytes as laid out (rows, or fast-scan blocks; decoded lists for ANS)."""
        return self.store.codes

    @property
    def ids(self) -> np.ndarray:
        """The id of every row (decoded once; a search decodes only what it returns)."""
        if "ids" not in self._cache:
            with self.decoding():
                self._cache["ids"] = self.id_codec.decode_all()
        return self._cache["ids"]

    @contextlib.contextmanager
    def decoding(self):
        """Name the file when a native decoder finds its bytes inconsistent."""
        try:
            yield
        except CorruptData as e:
            raise VtoolError(f"{self.path or 'index'}: corrupt index: {e.message}") from None

    @property
    def is_trained(self) -> bool:
        return self.encoding.is_trained and (not self.structure.has_centroids or self.centroids is not None)

    def trained_arrays(self) -> dict[str, np.ndarray]:
        """What training learned, in file order (transform, coarse quantizer, encoding)."""
        out: dict[str, np.ndarray] = {}
        if self.transform is not None:
            out.update(self.transform.arrays())
        out.update(self.structure.arrays())
        out.update(self.encoding.arrays())
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """Every section, in file order."""
        out = self.trained_arrays()
        out["list_offsets"] = self.list_offsets
        out.update(self.store_arrays)
        out.update(self.structure.row_arrays())
        out.update(self.id_codec.sections)
        if self.refiner is not None:
            out["refine"] = self.refiner.vectors
        return out

    def fingerprint(self) -> str:
        """CRC-32C of what a model learned: codes made with one model are refused by another."""
        crc = _native.crc32c(f"{self.spec}|{self.d}|{self.metric_name}".encode())
        trained = self.trained_arrays()
        for name in sorted(trained):
            crc = _native.crc32c(np.ascontiguousarray(trained[name]).view(np.uint8).reshape(-1), crc)
        return f"{crc:08x}"

    def make_header(self, ntotal: int, provenance: dict, id_fields: dict | None = None) -> dict:
        header = {"format": "vti", "kind": "index" if ntotal else "model", "spec": str(self.spec), "d": self.d,
                  "metric": self.metric_name, "ntotal": ntotal, "id_codec": "int64",
                  "model_fingerprint": self.header.get("model_fingerprint") or self.fingerprint(),
                  "vtool_version": __version__, "provenance": provenance}
        header.update(self.structure.header_fields())
        header.update(self.encoding.header_fields())
        header.update(id_fields or {})
        return header

    # -- vectors to codes and back -----------------------------------------------------
    @property
    def cosine(self) -> bool:
        return self.metric_name == "cosine"

    def prepare(self, x: np.ndarray, source: str = "vectors") -> np.ndarray:
        """Vectors as the index measures them: scaled to unit length for metric cosine."""
        return unit_rows(x, source) if self.cosine else x

    def apply_transform(self, x: np.ndarray, threads: int = 1) -> np.ndarray:
        """Vectors as the structure and the encoding see them (rotated when the spec says so),
        rows split across `threads`."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.transform is None or threads <= 1 or len(x) < 2:
            return self.transform.apply(x) if self.transform is not None else x
        return np.concatenate(map_threads(threads, lambda r: self.transform.apply(x[r[0]:r[1]]),
                                          row_ranges(len(x), PARTS_PER_THREAD * threads)))

    @property
    def by_residual(self) -> bool:
        return self.encoding.by_residual and self.structure.has_centroids

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(list numbers, codes) of vectors under this trained model."""
        xt = self.apply_transform(x)
        labels = self.structure.assign(xt, self.metric) if self.structure.has_centroids \
            else np.zeros(len(x), dtype=np.int64)
        if self.by_residual:
            xt = xt - self.centroids[labels]
        return labels, self.encoding.encode(xt)

    def decode(self, lists: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Vectors from (list, code) pairs, in the input space: residual added back, transform undone."""
        x = self.encoding.decode(codes)
        if self.by_residual:
            x = x + self.centroids[lists]
        if self.transform is not None:
            x = self.transform.reverse(x)
        return np.ascontiguousarray(x, dtype=np.float32)

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        """Decoded vectors of row positions, in the input space."""
        rows = np.asarray(rows, dtype=np.int64)
        lists = np.searchsorted(self.list_offsets, rows, side="right") - 1
        return self.decode(lists, self.store.rows(rows))

    # -- Python API: training and adding in memory ---------------------------------------
    def train(self, x: np.ndarray, seed: int = 0, niter: int = 25, init: str = "random") -> dict:
        """Learn the transform, coarse quantizer and encoding from x (all of it: sample first)."""
        x = self.prepare(check_vectors(x, self.d))
        report: dict = {}
        if self.transform is not None:
            report.update(self.transform.train(x, seed=seed))
            x = self.transform.apply(x)
        report.update(self.structure.train(x, self.metric, seed, niter, init))
        if self.by_residual:
            x = x - self.centroids[self.structure.assign(x, self.metric)]
        report.update(self.encoding.train(x, seed=seed))
        self.header = {}
        self.header["model_fingerprint"] = self.fingerprint()
        return report

    def load_trained(self, arrays: dict[str, np.ndarray]) -> None:
        """Trained state from arrays (a model made elsewhere, e.g. imported from faiss), checked
        as a file's sections are."""
        transform = {name: np.asarray(arrays[name]) for name in (self.transform.sections if self.transform else ())
                     if name in arrays}
        problem = self.transform.check_arrays(transform) if self.transform else None
        structure = {name: np.asarray(arrays[name]) for name in self.structure.sections if name in arrays}
        problem = problem or self.structure.check({**structure, "list_offsets": np.asarray(self.list_offsets)})
        encoding = {name: np.asarray(arrays[name]) for name in self.encoding.sections if name in arrays}
        problem = problem or self.encoding.check_arrays(encoding)
        if problem:
            raise VtoolError(f"trained state does not fit {self.spec}: {problem}")
        if self.transform:
            self.transform.load(transform)
        self.structure.load(structure)
        self.encoding.load(encoding)
        self.header = {"model_fingerprint": self.fingerprint()}

    def default_max_train(self) -> int:
        parts = [self.structure, self.encoding] + ([self.transform] if self.transform is not None else [])
        return max(p.default_max_train() for p in parts)

    def add(self, x: np.ndarray, ids: np.ndarray | None = None, threads: int = 1) -> None:
        """Add vectors (ids: int64, unique, >= 0; default: running row numbers after the largest id).
        threads: for linking a graph (the result does not depend on it)."""
        if not self.is_trained:
            raise VtoolError("the index is not trained")
        x = self.prepare(check_vectors(x, self.d))
        if ids is None:
            first = int(self.ids.max()) + 1 if self.ntotal else 0
            ids = np.arange(first, first + len(x), dtype=np.int64)
        ids = np.asarray(ids, dtype=np.int64)
        if ids.shape != (len(x),):
            raise VtoolError(f"{len(ids)} ids for {len(x)} vectors")
        labels, codes = self.encode(x)
        self.append(labels, codes, ids, x if self.refiner is not None else None,
                    self.apply_transform(x) if self.structure.is_graph else None, threads)

    def append(self, labels: np.ndarray, codes: np.ndarray, ids: np.ndarray, raw: np.ndarray | None,
               vectors: np.ndarray | None = None, threads: int = 1) -> None:
        """Rows for (list, code, id[, raw vector]) triples, each list keeping its old rows first;
        a graph links the new rows, measured on `vectors` (transformed, float32)."""
        if len(ids) and ids.min() < 0:
            raise VtoolError(f"negative id {int(ids.min())} (ids must be >= 0; -1 means 'no result')")
        n_old = self.ntotal
        graph_vectors = None
        if self.structure.is_graph:  # the old rows as the encoding gives them back
            old = self.encoding.decode(self.store.rows(np.arange(n_old))) if n_old else np.zeros((0, self.d), np.float32)
            graph_vectors = np.concatenate([np.asarray(old, np.float32), np.asarray(vectors, np.float32)])
        old_lists = np.repeat(np.arange(self.nlist), self.list_sizes)
        lists = np.concatenate([old_lists, labels])
        order = np.argsort(lists, kind="stable")
        all_ids = np.concatenate([self.ids, ids])[order]
        check_unique(all_ids)
        row_codes = np.concatenate([self.store.rows(np.arange(n_old)), codes])[order]
        offsets = np.zeros(self.nlist + 1, dtype=np.int64)
        np.cumsum(np.bincount(lists, minlength=self.nlist), out=offsets[1:])
        if self.refiner is not None:
            self.refiner.vectors = np.concatenate([self.refiner.vectors, np.asarray(raw, np.float32)])[order]
        self.structure.list_offsets = offsets
        layout = store_class(self.encoding, {})
        self.header = {k: v for k, v in self.header.items() if not k.startswith("id_") and k != "code_codec"}
        self._set_rows(layout.pack(self.encoding, row_codes, offsets), open_codec({"ids": all_ids}, {}, offsets), {})
        if graph_vectors is not None:
            self.structure.grow(self.structure.draw_levels(n_old, len(ids)))
            self.structure.link(graph_vectors, n_old, self.metric, threads)

    def save(self, path: str) -> None:
        """Write the index (or model) to a .vti file, atomically."""
        id_fields = {k: v for k, v in self.header.items() if k.startswith("id_")}
        header = self.make_header(self.ntotal, self.header.get("provenance", {}), id_fields)
        if self.header.get("code_codec"):
            header["code_codec"] = self.header["code_codec"]
        write_vti(path, header, self.arrays())

    # -- search ----------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int = 10, nprobe: int | None = None, threads: int = 1,
               k_factor: int = DEFAULT_K_FACTOR, refine_vectors=None, ef: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (distances, ids) of each query; -1 / inf (-inf for ip) where fewer than k rows
        were scanned. With RFlat (or refine_vectors, rows indexed by id) a shortlist of
        k * k_factor is re-ranked with exact distances. nprobe for IVF, ef for graphs."""
        queries = self._check_queries(queries)
        if k < 1:
            raise VtoolError("k must be at least 1")
        if k > self.ntotal:
            raise VtoolError(f"k={k} is larger than the number of indexed vectors ({self.ntotal})")
        if k_factor < 1:
            raise VtoolError("--k-factor must be at least 1")
        source = self._refine_source(refine_vectors)
        short_k = min(k * k_factor, self.ntotal) if source is not None else k
        params = self.structure.search_params(nprobe, ef, short_k)

        codec = self.id_codec
        # threads inside one chunk (native, no return to Python between batches: synthetic 1M
        # x4fs nprobe 1 1.11x, GloVe PQ10 / SQ8 1.01-1.09x on two threads), else chunks a thread,
        # for graphs and when re-ranking: rows read for the exact distances load memory, and
        # chunks keep the threads in different phases (in phases, MiniLM RFlat 0.92x, GloVe 0.95x)
        inner = threads if self.structure.splits_queries and source is None else 1

        def run(a: int, b: int):  # a chunk's rotation (OPQ), scan, re-ranking and ids on `inner` threads
            dist, pos = self._scan(self.apply_transform(queries[a:b], inner), params, inner, k=short_k,
                                   ordered=source is None)
            if source is not None:
                dist, pos = rerank(queries[a:b], pos, k, self.metric, source)
            return dist, (codec.ids_at(pos, inner) if codec.ids_per_chunk else pos)

        gathered = short_k * self.d if source is not None and not isinstance(source, np.ndarray) else 0
        scratch = self.nlist + gathered  # coarse distances, vectors gathered to re-rank (RFlat's are read in place)
        outer = threads // inner
        with self.decoding(), blas_held_to(1):
            dist, found = _parallel(self._chunks(len(queries), outer, scratch), outer, run)
            ids = found if codec.ids_per_chunk else codec.ids_at(found, threads)
        if self.metric == "ip":
            dist = np.where(ids >= 0, -dist, -np.inf).astype(np.float32)
        return dist, ids

    def range_search(self, queries: np.ndarray, radius: float, nprobe: int | None = None, threads: int = 1,
                     refine_vectors=None, ef: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every result within radius (squared L2 <= radius; inner product >= radius for ip):
        (lims, distances, ids), query q's results at lims[q]:lims[q+1], nearest first. With
        RFlat the candidates' exact distances decide. A graph returns those among the ef
        nearest it finds."""
        queries = self._check_queries(queries)
        radius = float(radius)
        if not np.isfinite(radius) or (self.metric == "l2" and radius < 0):
            raise VtoolError(f"radius must be a finite number{' >= 0' if self.metric == 'l2' else ''}, got {radius}")
        internal = radius if self.metric == "l2" else -radius
        source = self._refine_source(refine_vectors)
        vectors_of = gather(source) if source is not None else None
        params = self.structure.search_params(nprobe, ef)

        inner = threads if self.structure.splits_queries and vectors_of is None else 1  # as in search

        def run(a: int, b: int):
            lims, dist, pos = self._scan(self.apply_transform(queries[a:b], inner), params, inner, radius=internal)
            if vectors_of and len(pos):
                q_of = np.repeat(np.arange(b - a), np.diff(lims))
                exact = np.empty(len(pos), np.float32)
                for q in range(b - a):  # one query's candidates at a time bounds the memory
                    sel = slice(lims[q], lims[q + 1])
                    exact[sel] = exact_distances(queries[a + q:a + q + 1], vectors_of(pos[sel])[None], self.metric)[0]
                keep = exact <= internal
                q_of, dist, pos = q_of[keep], exact[keep], pos[keep]
                order = np.lexsort((pos, dist, q_of))
                q_of, dist, pos = q_of[order], dist[order], pos[order]
                lims = np.zeros(b - a + 1, np.int64)
                np.cumsum(np.bincount(q_of, minlength=b - a), out=lims[1:])
            return lims, dist, pos

        chunks = self._chunks(len(queries), threads // inner, self.nlist)
        with self.decoding(), blas_held_to(1):
            parts = _map(threads // inner, run, chunks)
        lims = np.zeros(len(queries) + 1, np.int64)
        at = 0
        for (a, b), part in zip(chunks, parts):
            lims[a + 1:b + 1] = part[0][1:] + at
            at += int(part[0][-1])
        dist = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.float32)
        pos = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
        with self.decoding():
            ids = self.id_codec.ids_of(pos, threads) if len(pos) else np.zeros(0, np.int64)
        return lims, (-dist if self.metric == "ip" else dist).astype(np.float32), ids

    def _chunks(self, nq: int, threads: int, scratch: int) -> list[tuple[int, int]]:
        """Query ranges for `threads` search threads: one on a single thread (the threads then
        work inside the chunk when the structure splits queries), else PARTS_PER_THREAD a
        thread, never fewer than QUERY_CHUNK queries (each chunk pays a fixed set-up, ~0.2 ms
        at d = 384), never more than CHUNK_BUDGET / scratch (the floats a query needs while its
        chunk runs). Results do not depend on the split."""
        parts = 1 if threads <= 1 else PARTS_PER_THREAD * threads
        size = max(QUERY_CHUNK, min(-(-nq // parts), CHUNK_BUDGET // max(scratch, 1)))
        return [(i, min(i + size, nq)) for i in range(0, nq, size)]

    def _check_queries(self, queries) -> np.ndarray:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.d:
            raise VtoolError(f"queries have dimension {queries.shape[-1] if queries.ndim else 0}, the index has {self.d}")
        return self.prepare(queries, "queries")

    def _refine_source(self, refine_vectors):
        """How a search gets raw vectors for re-ranking: the array by row (RFlat), or a function
        of rows that reads them by id (--refine)."""
        if refine_vectors is not None:
            by_id = vectors_by_id(refine_vectors, self.id_codec.ids_of, None)
            return (lambda rows: self.prepare(by_id(rows).reshape(-1, self.d)).reshape(*rows.shape, self.d)) \
                if self.cosine else by_id
        if self.refiner is not None:
            return self.refiner.vectors
        return None

    def _scan(self, xq: np.ndarray, params: dict, threads: int = 1, **collector):
        return self.structure.scan(xq, params, self.store, self.encoding, self.metric, self.by_residual,
                                   self._precomputed(), threads=threads, **collector)

    def _precomputed(self) -> np.ndarray | None:
        if not (self.by_residual and self.metric == "l2"):
            return None
        if "precomputed" not in self._cache:
            self._cache["precomputed"] = self.encoding.precomputed_tables(self.centroids)
        return self._cache["precomputed"]


def _map(threads: int, run, chunks: list) -> list:
    return map_threads(threads, lambda c: run(*c), chunks)


def _parallel(chunks: list, threads: int, run):
    """Top-k results of query chunks, run in threads, concatenated in query order."""
    parts = _map(threads, run, chunks)
    if not parts:
        return np.empty((0, 1), np.float32), np.empty((0, 1), np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def check_vectors(x, d: int) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != d:
        raise VtoolError(f"vectors of shape {x.shape} do not have dimension {d}")
    check_values(x, "vectors")
    return x


UNIQUE_IN_RAM = 1 << 24  # ids checked with one sorted copy in memory (128 MB); beyond, on disk


def check_unique(ids: np.ndarray, scratch: str | None = None) -> None:
    """Duplicate ids are refused (a search could not tell the vectors apart), naming the
    smallest. Up to UNIQUE_IN_RAM ids, one sorted copy in memory; beyond, with a scratch
    folder, the ids are split on disk by hash into parts of about UNIQUE_IN_RAM, each sorted
    and checked alone (memory: one part), so a billion ids need no 8 GB copy."""
    smallest, count = find_duplicates(ids, scratch)
    if count:
        raise VtoolError(f"duplicate id {smallest} ({count} duplicates in all); ids must be unique")


def find_duplicates(ids: np.ndarray, scratch: str | None = None) -> tuple[int | None, int]:
    """(the smallest duplicated id or None, how many duplicates), as check_unique finds them."""
    return _duplicates(ids) if scratch is None or len(ids) <= UNIQUE_IN_RAM else _duplicates_on_disk(ids, scratch)


def _duplicates(ids: np.ndarray) -> tuple[int | None, int]:
    s = np.sort(np.asarray(ids))
    dup = np.flatnonzero(s[1:] == s[:-1])
    return (int(s[dup[0]]) if len(dup) else None), len(dup)


def _duplicates_on_disk(ids: np.ndarray, scratch: str) -> tuple[int | None, int]:
    import os

    parts = -(-len(ids) // UNIQUE_IN_RAM)
    files = [open(os.path.join(scratch, f"ids-part{p}.bin"), "wb") for p in range(parts)]
    try:
        for a in range(0, len(ids), UNIQUE_IN_RAM):
            chunk = np.asarray(ids[a:a + UNIQUE_IN_RAM], np.int64)
            part = (chunk.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15) >> np.uint64(32)) % np.uint64(parts)
            order = np.argsort(part, kind="stable")
            bounds = np.searchsorted(part[order], np.arange(parts + 1))
            for p in range(parts):
                files[p].write(chunk[order[bounds[p]:bounds[p + 1]]].tobytes())
    finally:
        for f in files:
            f.close()
    smallest, count = None, 0
    for p in range(parts):
        path = os.path.join(scratch, f"ids-part{p}.bin")
        first, n = _duplicates(np.fromfile(path, dtype=np.int64))
        os.unlink(path)
        count += n
        if first is not None and (smallest is None or first < smallest):
            smallest = first
    return smallest, count


def load_index(path: str, verify: bool = True) -> Index:
    """Open a .vti model or index by memory map; verify checksums unless told not to. Every
    part checks its sections against the header before any of them reaches C."""
    f = VtiFile(path)
    h = f.header
    if h.get("kind") not in ("model", "index"):
        raise VtoolError(f"{path}: not a vtool model or index")
    problem = header_problem(h)
    if problem:
        raise VtoolError(f"{path}: corrupt index: {problem}")
    spec, d, metric = parse_spec(h["spec"]), h["d"], h["metric"]
    if verify:
        f.verify()
    try:  # the parts read their own header fields (RQ's beam, a graph's seed, ...)
        index = Index(spec, d, metric, options=h)
    except (TypeError, ValueError, OverflowError) as e:
        raise VtoolError(f"{path}: corrupt index: a header field of {spec} ({e})") from None
    index.path, index.header, index.mapping = path, h, f.raw_map

    def load(names) -> dict[str, np.ndarray]:
        return {name: f.array(name) for name in names if name in f.sections}

    problem = None
    if index.transform is not None:
        arrays = load(index.transform.sections)
        problem = index.transform.check_arrays(arrays)
        if not problem:
            index.transform.load(arrays)
    arrays = load(index.structure.sections + ("list_offsets",))
    problem = problem or index.structure.check(arrays)
    if not problem:
        index.structure.load(arrays)
        index.structure.list_offsets = arrays["list_offsets"]
    if not problem and h.get("code_codec") == "ans" and index.encoding.name != "PQ":
        problem = "ANS-coded codes are for PQ encodings"
    arrays = load(index.encoding.sections)
    problem = problem or index.encoding.check_arrays(arrays)
    if problem:
        raise VtoolError(f"{path}: corrupt index: {problem}")
    index.encoding.load(arrays)
    for name, a in index.trained_arrays().items():  # what every search and add computes with
        if a.dtype.kind == "f":
            check_values(np.asarray(a, np.float32).reshape(len(a) if a.ndim > 1 else 1, -1),
                         f"{path}: corrupt index: section {name!r}")
    store_cls = store_class(index.encoding, h)
    store_arrays = load(store_cls.sections)
    if set(store_arrays) != set(store_cls.sections):
        raise VtoolError(f"{path}: corrupt index: missing section of the code store "
                         f"({', '.join(sorted(set(store_cls.sections) - set(store_arrays)))})")
    id_arrays = load(id_sections(h))
    problem = check_id_sections(id_arrays, h, index.ntotal)
    if problem:
        raise VtoolError(f"{path}: corrupt index: {problem}")
    try:
        id_codec = open_codec(id_arrays, h, index.list_offsets)
    except VtoolError as e:
        raise VtoolError(f"{path}: corrupt index: {e}") from None
    index._set_rows(store_arrays, id_codec, h)
    if index.refiner is not None:
        index.refiner.vectors = f.array("refine")
    problem = index.store.check() or (index.refiner.check(index.ntotal) if index.refiner is not None else None)
    if not problem and index.structure.row_sections:
        problem = index.structure.load_rows(load(index.structure.row_sections))
    if not problem and "refine" in f.sections and index.refiner is None:
        problem = "refine vectors in an index without RFlat"
    if not problem and index.ntotal != h["ntotal"]:
        problem = f"the header says {h['ntotal']} vectors, the lists hold {index.ntotal}"
    if problem:
        raise VtoolError(f"{path}: corrupt index: sections do not agree with each other ({problem})")
    return index


MAX_DIM = 1 << 20
MAX_COUNT = (1 << 63) - 1


def header_problem(h: dict) -> str | None:
    """What is wrong with the fields every index header has (types and ranges), or None. The
    parts check their own fields and sections after this."""
    if not isinstance(h.get("spec"), str):
        return "header field 'spec' is not a string"
    d, ntotal = h.get("d"), h.get("ntotal")
    if type(d) is not int or not 1 <= d <= MAX_DIM:
        return f"header field 'd' is not an integer from 1 to {MAX_DIM}"
    if h.get("metric") not in METRIC_NAMES:
        return f"header field 'metric' is {h.get('metric')!r}, not one of {', '.join(METRIC_NAMES)}"
    if type(ntotal) is not int or not 0 <= ntotal <= MAX_COUNT:
        return "header field 'ntotal' is not a count"
    if not isinstance(h.get("id_codec", "int64"), str):
        return "header field 'id_codec' is not a string"
    for key in ("id_universe", "id_table_universe", "id_roc_group", "id_roc_min_ids", "id_roc_bits",
                "id_roc_length_rice", "id_roc_parts_bits", "id_roc_parts_length_rice", "id_roc_split_min",
                "id_roc_split_parts", "id_roc_part_count_rice"):
        if key in h and (type(h[key]) is not int or not 0 <= h[key] <= MAX_COUNT):
            return f"header field {key!r} is not a count"
    for key in ("id_roc_length_center", "id_roc_parts_length_center"):
        if key in h and (type(h[key]) is not int or not -MAX_COUNT <= h[key] <= MAX_COUNT):
            return f"header field {key!r} is not an integer"
    if h.get("id_roc_layout") not in (None, "bits"):
        return f"unknown ROC layout {h['id_roc_layout']!r}"
    if h.get("code_codec") not in (None, "ans"):
        return f"unknown code codec {h['code_codec']!r}"
    prov = h.get("provenance", {})
    if not isinstance(prov, dict) or not isinstance(prov.get("add", []), list) \
            or not isinstance(prov.get("train", {}), dict):
        return "header field 'provenance' is not a record of train and add"
    return None


def model_options(spec, seed: int, beam: int, ef_construction: int | None) -> dict:
    """Build options of a model, checked against its spec (header fields once written)."""
    if beam < 1:
        raise VtoolError("--beam must be at least 1")
    return {"rq_beam": beam, **spec.structure.cls.build_options(seed, ef_construction)}


def train(x: np.ndarray, spec: str, metric: str = "l2", seed: int = 0, max_train: int | None = None,
          niter: int = 25, init: str = "random", beam: int = 1, ef_construction: int | None = None) -> Index:
    """Python API: a trained, empty index for vectors like x (float32 (n, d)), as `vtool train`
    builds it: at most max_train rows (default: what the parts want), sampled with seed."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise VtoolError(f"vectors of shape {x.shape}: expected (n, d)")
    parsed = parse_spec(spec)
    index = Index(parsed, x.shape[1], metric, options=model_options(parsed, seed, beam, ef_construction))
    cap = max_train if max_train is not None else index.default_max_train()
    rows = sample_rows(len(x), cap, seed)
    index.train(x[rows], seed=seed, niter=niter, init=init)
    return index


def sample_rows(n: int, cap: int, seed: int) -> np.ndarray:
    """The rows training reads: all of them, or cap sorted at random (the same for a seed)."""
    if n > cap:
        return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))
    return np.arange(n)


def load(path: str, verify: bool = True) -> Index:
    """Python API: open a .vti index (memory-mapped)."""
    return load_index(path, verify)


__all__ = ["Index", "load", "load_index", "train"]
