"""The index structure: an optional OPQ rotation, an optional inverted file, an encoding.

Sections of an index file (the encoding's trained state, e.g. pq_codebooks, besides):
    opq_matrix     float32 (d, dout)      OPQ rotation (OPQ specs)
    centroids      float32 (nlist, dv)    coarse quantizer (IVF specs)
    list_offsets   int64 (nlist + 1)      list l holds rows list_offsets[l] .. list_offsets[l+1]-1
    codes          uint8 (N, code_size)   the rows' codes, grouped by list; for PQ<m>x4fs,
                                          (n_blocks, 16 m) fast-scan blocks of 32 rows
    block_offsets  int64 (nlist + 1)      fast-scan only: list l's blocks
    ids            int64 (N)              user id of each row (the id codec "int64")
    refine         float32 (N, d)         RFlat only: the raw vectors, for exact re-ranking
Flat is the one-list case without centroids. A model is an index with N = 0.

A search scans (list, row) positions and maps only the final top-k rows to ids.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from vtool import _native, log
from vtool.codecs.codes import CompressedCodes
from vtool.codecs.ids import IdCodec, id_sections, open_codec
from vtool.errors import VtoolError
from vtool.index.container import VtiFile
from vtool.index.spec import IndexSpec, parse_spec
from vtool.quant.encoding import Encoding
from vtool.quant.factory import make_encoding
from vtool.quant.fastscan import FastScanPQ, pack_nibbles
from vtool.quant.opq import OPQ

DEFAULT_NPROBE = 16
DEFAULT_K_FACTOR = 4
QUERY_CHUNK = 256


@dataclass
class Index:
    spec: IndexSpec
    d: int
    metric: str
    opq: OPQ | None
    centroids: np.ndarray | None
    encoding: Encoding
    list_offsets: np.ndarray
    codes: np.ndarray
    id_codec: IdCodec
    header: dict
    block_offsets: np.ndarray | None = None
    refine: np.ndarray | None = None
    path: str | None = None
    codes_source: CompressedCodes | None = None  # lists of ANS-compressed codes, decoded on demand
    _tables: dict = field(default_factory=dict, repr=False)

    @property
    def ntotal(self) -> int:
        return int(self.list_offsets[-1])

    @property
    def ids(self) -> np.ndarray:
        """The id of every row (decoded once; a search decodes only what it returns)."""
        if "ids" not in self._tables:
            self._tables["ids"] = self.id_codec.decode_all()
        return self._tables["ids"]

    @property
    def nlist(self) -> int:
        return len(self.list_offsets) - 1

    @property
    def list_sizes(self) -> np.ndarray:
        return np.diff(self.list_offsets)

    @property
    def fast_scan(self) -> bool:
        return isinstance(self.encoding, FastScanPQ)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Vectors as the IVF and the encoding see them (OPQ-rotated when the spec says so)."""
        return self.opq.apply(x) if self.opq is not None else np.ascontiguousarray(x, dtype=np.float32)

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None, threads: int = 1,
               k_factor: int = DEFAULT_K_FACTOR, refine_vectors: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (distances, ids) of each query; -1 / inf where fewer than k rows were scanned.

        With RFlat (or refine_vectors, rows indexed by id) a shortlist of k * k_factor is
        re-ranked with exact distances."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.shape[1] != self.d:
            raise VtoolError(f"queries have dimension {queries.shape[1]}, the index has {self.d}")
        if k < 1:
            raise VtoolError("k must be at least 1")
        if k > self.ntotal:
            raise VtoolError(f"k={k} is larger than the number of indexed vectors ({self.ntotal})")
        if refine_vectors is None and self.refine is not None:
            refine_vectors = self.refine
        reranked = refine_vectors is not None
        if k_factor < 1:
            raise VtoolError("--k-factor must be at least 1")
        short_k = min(k * k_factor, self.ntotal) if reranked else k
        xq = self.transform(queries)
        if self.spec.nlist is not None:
            nprobe = clamp_nprobe(nprobe, self.nlist)

        by_row = self.refine if reranked and refine_vectors is self.refine else None

        def run(a: int, b: int):  # coarse quantizer, scan and re-ranking of one chunk of queries
            probes, coarse = self._coarse(xq[a:b], nprobe)
            if self.codes_source is not None:
                self.codes_source.ensure(probes.ravel())
            dist, pos = self._scan(xq[a:b], probes, coarse, short_k)
            if reranked:
                dist, pos = self._rerank(queries[a:b], dist, pos, k, by_row, refine_vectors)
            return dist, pos

        dist, pos = self._parallel(len(xq), threads, run)
        ids = np.full(pos.shape, -1, dtype=np.int64)
        ids[pos >= 0] = self.id_codec.ids_of(pos[pos >= 0])
        if self.metric == "ip":
            dist = np.where(pos >= 0, -dist, -np.inf).astype(np.float32)
        return dist, ids

    def _coarse(self, xq: np.ndarray, nprobe: int):
        if self.spec.nlist is None:
            return np.zeros((len(xq), 1), dtype=np.int64), None
        if nprobe == 1:
            labels, dist = _native.assign_nearest(xq, self.centroids, self.metric, threads=1)
            return labels[:, None], dist[:, None]
        # direct SIMD distances, not BLAS: this runs in every search thread at once, and
        # concurrent BLAS calls oversubscribe the cores (OpenBLAS even serialises them)
        dist = _native.pairwise(xq, self.centroids, self.metric)
        top = _native.TopK(len(xq), nprobe)
        top.add_distances(dist if self.metric == "l2" else -dist, 0)
        dist, probes = top.result()
        return probes, dist if self.metric == "l2" else -dist

    def _parallel(self, nq: int, threads: int, run):
        chunks = [(i, min(i + QUERY_CHUNK, nq)) for i in range(0, nq, QUERY_CHUNK)]
        if threads > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(threads) as pool:  # cffi releases the GIL in C calls
                parts = list(pool.map(lambda c: run(*c), chunks))
        else:
            parts = [run(*c) for c in chunks]
        if not parts:
            return np.empty((0, 1), np.float32), np.empty((0, 1), np.int64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _scan(self, xq, probes, coarse, k):
        enc = self.encoding
        residual = enc.by_residual and self.centroids is not None
        if self.fast_scan:
            return _native.ivf_fs_scan(xq, self.codes, self.block_offsets, self.list_offsets, probes,
                                       enc.codebooks, self.metric, k, centroids=self.centroids,
                                       by_residual=residual,
                                       precomputed=self._precomputed() if residual and self.metric == "l2" else None)
        return _native.ivf_scan(enc.kind, xq, self.codes, self.list_offsets, probes, self.metric, k,
                                centroids=self.centroids, by_residual=residual,
                                coarse_dist=coarse if self.metric == "l2" else None,
                                params=self._params(), m=enc.m, ksub=enc.ksub,
                                precomputed=self._precomputed() if residual and self.metric == "l2" else None)

    def _params(self) -> np.ndarray:
        if "params" not in self._tables:
            self._tables["params"] = self.encoding.scan_params()
        return self._tables["params"]

    def _precomputed(self) -> np.ndarray | None:
        if "precomputed" not in self._tables:
            self._tables["precomputed"] = self.encoding.precomputed_tables(self.centroids)
        return self._tables["precomputed"]

    def _rerank(self, queries, dist, pos, k, by_row, by_id):
        """Exact distances for the shortlist, best k kept (ties to the smaller row)."""
        valid = pos >= 0
        safe = np.maximum(pos, 0)
        if by_row is not None:
            vecs = by_row[safe]
        else:
            ids = self.id_codec.ids_of(safe.ravel()).reshape(safe.shape)
            if ids.max(initial=0) >= len(by_id):
                raise VtoolError(f"--refine vectors have {len(by_id)} rows; the index holds id {int(ids.max())}")
            vecs = np.asarray(by_id[ids], dtype=np.float32)
        if self.metric == "ip":
            exact = -np.einsum("qkd,qd->qk", vecs, queries)
        else:
            diff = vecs - queries[:, None, :]
            exact = np.einsum("qkd,qkd->qk", diff, diff)
        exact = np.where(valid, exact, np.inf).astype(np.float32)
        order = np.lexsort((np.where(valid, pos, np.iinfo(np.int64).max), exact), axis=1)[:, :k]
        return np.take_along_axis(exact, order, 1), np.take_along_axis(pos, order, 1)

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        """Decoded vectors of the given row positions, in the input space (OPQ undone)."""
        rows = np.asarray(rows, dtype=np.int64)
        lists = np.searchsorted(self.list_offsets, rows, side="right") - 1
        if self.codes_source is not None:
            self.codes_source.ensure(lists)
        if self.fast_scan:
            codes = self._fast_scan_row_codes(rows)
        else:
            codes = self.codes[rows]
        return self.decode(lists, codes)

    def decode(self, lists: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Vectors from (list, code) pairs, in the input space: residual added back, OPQ undone."""
        x = self.encoding.decode(codes)
        if self.encoding.by_residual and self.centroids is not None:
            x = x + self.centroids[lists]
        if self.opq is not None:
            x = x @ self.opq.matrix.T
        return np.ascontiguousarray(x, dtype=np.float32)

    def _fast_scan_row_codes(self, rows: np.ndarray) -> np.ndarray:
        """Packed 4-bit codes of rows, read back out of the fast-scan blocks."""
        m = self.encoding.m
        lists = np.searchsorted(self.list_offsets, rows, side="right") - 1
        within = rows - self.list_offsets[lists]
        blocks = self.block_offsets[lists] + within // 32
        lane = within % 32
        raw = self.codes[blocks].reshape(len(rows), m, 16)
        byte = raw[np.arange(len(rows))[:, None], np.arange(m)[None], (lane % 16)[:, None]]
        sub = np.where((lane < 16)[:, None], byte & 15, byte >> 4).astype(np.uint8)
        return pack_nibbles(sub)


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


def encoder_sections(spec: IndexSpec) -> tuple[str, ...]:
    return {"PQ": ("pq_codebooks",), "PQfs": ("pq_codebooks",), "RQ": ("rq_codebooks",),
            "SQ8": ("sq_vmin", "sq_vdiff")}.get(spec.encoding, ())


def load_model_parts(f: VtiFile, spec: IndexSpec, d: int) -> tuple[OPQ | None, np.ndarray | None, Encoding]:
    """The trained parts of a model or index: rotation, coarse centroids, encoding."""
    opq = None
    if spec.opq_m:
        opq = OPQ(d, spec.opq_m, spec.opq_dout)
        opq.load({"opq_matrix": f.array("opq_matrix")})
    centroids = f.array("centroids") if "centroids" in f.sections else None
    encoding = make_encoding(spec, spec.vector_dim(d), beam=int(f.header.get("rq_beam", 1)))
    names = encoder_sections(spec)
    if names:
        encoding.load({name: f.array(name) for name in names})
    return opq, centroids, encoding


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
        f.verify()
    opq, centroids, encoding = load_model_parts(f, spec, d)
    list_offsets = f.array("list_offsets")
    codes_source = None
    if h.get("code_codec") == "ans":
        codes_source = CompressedCodes({name: f.array(name) for name in ("codes_ans", "codes_ans_offsets")},
                                       list_offsets, encoding.code_size, encoding.m, encoding.ksub)
        codes = codes_source.plain
    elif h.get("code_codec"):
        raise VtoolError(f"{path}: unknown code codec {h['code_codec']!r}")
    else:
        codes = f.array("codes")
    id_codec = open_codec({name: f.array(name) for name in id_sections(h) if name in f.sections}, h, list_offsets)
    block_offsets = f.array("block_offsets") if "block_offsets" in f.sections else None
    refine = f.array("refine") if "refine" in f.sections else None
    index = Index(spec, d, metric, opq, centroids, encoding, list_offsets, codes, id_codec, h, block_offsets,
                  refine, path, codes_source=codes_source)
    _check_consistent(index, path)
    return index


def _check_consistent(index: Index, path: str) -> None:
    spec, n, dv = index.spec, index.ntotal, index.spec.vector_dim(index.d)
    ok = (len(index.list_offsets) == (spec.nlist or 1) + 1 and index.list_offsets[0] == 0
          and not np.any(np.diff(index.list_offsets) < 0)
          and (index.id_codec.name != "int64" or len(index.id_codec.sections.get("ids", ())) == n)
          and (index.centroids is None or index.centroids.shape == (spec.nlist, dv))
          and (spec.nlist is None) == (index.centroids is None)
          and (index.refine is None or index.refine.shape == (n, index.d)) and spec.refine == (index.refine is not None))
    if ok and index.fast_scan:
        bo = index.block_offsets
        ok = (bo is not None and len(bo) == len(index.list_offsets) and bo[0] == 0
              and np.array_equal(np.diff(bo), (index.list_sizes + 31) // 32)
              and index.codes.shape == (int(bo[-1]), 16 * index.encoding.m))
    elif ok:
        ok = index.codes.shape == (n, index.encoding.code_size)
    if not ok:
        raise VtoolError(f"{path}: corrupt index: sections do not agree with each other")
