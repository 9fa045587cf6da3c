"""faiss index files in and out: the library behind `vtool export --to faiss` and `vtool import`.

Built with faiss's own Python API and read/written with faiss.write_index / read_index, so the
file is whatever faiss makes of it; faiss-cpu is the optional extra `vtool[faiss]`. Trained
state, codes and ids are taken as they are (no retraining): vtool's SQ8 / SQfp16 / PQ codes
are faiss's codes, its IVF lists faiss's inverted lists.

Types, both ways (vtool spec <-> faiss):
  Flat                      IndexFlatL2 / IndexFlatIP, in IndexIDMap when the ids are not 0..n-1
  IVF<n>,Flat               IndexIVFFlat
  IVF<n>,PQ<m>[np] (8-bit)  IndexIVFPQ, by residual (faiss's default; vtool's too) or not (np)
  IVF<n>,PQ<m>x4fs[np]      IndexIVFPQFastScan (bbs 32; `np`: not by residual, faiss's factory
                            default); faiss rounds its tables its own way, so fast-scan
                            distances agree only to that rounding
  IVF<n>,SQ8 / ,SQfp16      IndexIVFScalarQuantizer QT_8bit / QT_fp16, by residual
  [IVF<n>,]SQ8_direct[_signed] Index(IVF)ScalarQuantizer QT_8bit_direct[_signed], not by residual
  SQ8 / SQfp16 (no IVF)     IndexScalarQuantizer; like Flat, in IndexIDMap for custom ids
  OPQ<m>[_<d>], + the above IndexPreTransform(OPQMatrix, ...) (matrix transposed, no bias)
  ..., RFlat                IndexRefineFlat (the raw vectors by id: ids must be 0..n-1)
  HNSW<M>,Flat (l2)         IndexHNSWFlat: the same graph, levels + 1, the same entry point
                            (header hnsw_entry when not vtool's first node of the top level);
                            in IndexIDMap when the ids are not 0..n-1
A compressed vtool index is read decoded; anything else is refused in one line naming it.
"""

from __future__ import annotations

import numpy as np

from vtool.errors import VtoolError

SUPPORTED = ("Flat, IVF<n>,Flat, IVF<n>,PQ<m>[np] (8-bit codes), IVF<n>,PQ<m>x4fs[np], "
             "[IVF<n>,]SQ8, [IVF<n>,]SQfp16, [IVF<n>,]SQ8_direct[_signed], "
             "with OPQ before and RFlat after; HNSW<M>,Flat (l2)")


def _faiss():
    try:
        import faiss
    except ImportError:
        raise VtoolError("faiss files need faiss: pip install 'vtool[faiss]'") from None
    return faiss


def _metric(faiss, metric: str) -> int:
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def to_faiss(index):
    """A faiss index holding the same trained state, codes and ids as a vtool Index."""
    faiss = _faiss()
    spec = index.spec
    if type(index.structure).__name__ == "HNSW" and type(index.encoding).__name__ == "FlatEncoding" \
            and index.transform is None and index.refiner is None and index.metric_name == "l2":
        return _hnsw_to_faiss(faiss, index)
    if index.structure.is_graph or index.cosine:
        raise VtoolError(f"{spec}{' (metric cosine)' if index.cosine else ''}: not exported to faiss yet; "
                         f"these are: {SUPPORTED}")
    core = _core_to_faiss(faiss, index)
    if index.transform is not None:  # OPQ: y = x M, faiss's A = M^T
        matrix = np.ascontiguousarray(index.transform.matrix, np.float32)
        opq = faiss.OPQMatrix(index.d, spec.transform.params["m"], matrix.shape[1])
        faiss.copy_array_to_vector(np.ascontiguousarray(matrix.T).ravel(), opq.A)
        opq.is_trained, opq.have_bias = True, False
        wrapped = faiss.IndexPreTransform(opq, core)
        wrapped.own_fields = True
        opq.this.disown()
        core.this.disown()
        core = wrapped
    if index.refiner is not None:
        with index.decoding():
            ids = index.id_codec.ids_of(np.arange(index.ntotal)) if index.ntotal else np.zeros(0, np.int64)
        if not np.array_equal(np.sort(ids), np.arange(index.ntotal)):
            raise VtoolError(f"{spec}: faiss's IndexRefineFlat finds raw vectors by id, so the ids must be 0..n-1; "
                             "this index has other ids")
        by_id = np.empty((index.ntotal, index.d), np.float32)
        by_id[ids] = index.refiner.vectors
        refined = faiss.IndexRefineFlat(core, faiss.swig_ptr(by_id))  # the vectors with the base, as faiss asks
        refined.k_factor = 4.0  # vtool's default shortlist
        refined.own_fields = True
        core.this.disown()
        core = refined
    return core


def _id_map(faiss, empty, ids: np.ndarray):
    """An IndexIDMap around an index still empty (faiss checks), or None when the ids are the
    row numbers; ids_filled(mapped) sets its ids once the index is filled."""
    if np.array_equal(ids, np.arange(len(ids))):
        return None
    mapped = faiss.IndexIDMap(empty)
    mapped.own_fields = True
    empty.this.disown()
    return mapped


def _ids_filled(faiss, mapped, ids: np.ndarray):
    faiss.copy_array_to_vector(np.ascontiguousarray(ids, np.int64), mapped.id_map)
    mapped.ntotal = len(ids)
    return mapped


def _hnsw_to_faiss(faiss, index):
    """IndexHNSWFlat holding vtool's graph as it is (faiss levels = top level + 1)."""
    structure, n, d, m = index.structure, index.ntotal, index.d, index.structure.m
    with index.decoding():
        rows = np.arange(n)
        vectors = np.ascontiguousarray(index.store.rows(rows)).view(np.float32).reshape(n, d) if n \
            else np.zeros((0, d), np.float32)
        ids = index.id_codec.ids_of(rows) if n else np.zeros(0, np.int64)
    structure.plain_level0()  # a compressed level 0 is written plain
    out = faiss.IndexHNSWFlat(d, m, faiss.METRIC_L2)
    mapped = _id_map(faiss, out, ids)
    h = out.hnsw
    cum = faiss.vector_to_array(h.cum_nneighbor_per_level).astype(np.int64)
    levels = np.asarray(structure.levels, np.int64)
    if n and int(levels.max()) + 1 >= len(cum):
        raise VtoolError(f"{index.spec}: a node level above what faiss's HNSW{m} holds")
    if cum[1] != 2 * m or (len(cum) > 2 and cum[2] - cum[1] != m):
        raise VtoolError(f"faiss's HNSW{m} lays out {cum[1]} level-0 slots; vtool's has {2 * m}")
    slots = cum[levels + 1]
    offsets = np.zeros(n + 1, np.uint64)
    np.cumsum(slots, out=offsets[1:])
    neighbors = np.full(int(offsets[-1]), -1, np.int32)
    level0 = np.asarray(structure.level0)
    upper, upper_at = np.asarray(structure.upper), structure.graph.upper_offsets
    for i in range(n):
        at = int(offsets[i])
        neighbors[at:at + 2 * m] = level0[i]
        for lv in range(1, int(levels[i]) + 1):
            src = int(upper_at[i]) + (lv - 1) * m
            neighbors[at + cum[lv]:at + cum[lv] + m] = upper[src:src + m]
    faiss.downcast_index(out.storage).add(vectors)
    faiss.copy_array_to_vector((levels + 1).astype(np.int32), h.levels)
    faiss.copy_array_to_vector(offsets, h.offsets)
    faiss.copy_array_to_vector(neighbors, h.neighbors)
    if n:
        h.max_level = int(levels.max())
        h.entry_point = structure.entry if structure.entry >= 0 else int(np.flatnonzero(levels == levels.max())[0])
    h.efConstruction = structure.ef_construction
    out.ntotal = n
    return _ids_filled(faiss, mapped, ids) if mapped is not None else out


def _core_to_faiss(faiss, index):
    """The structure and encoding part (what sees the vectors after OPQ)."""
    spec, enc, structure = index.spec, index.encoding, index.structure
    d, metric = spec.vector_dim(index.d), _metric(faiss, index.metric)
    kind = type(enc).__name__
    rows = np.arange(index.ntotal)
    with index.decoding():
        codes = index.store.rows(rows) if index.ntotal else np.zeros((0, enc.code_size), np.uint8)
        ids = index.id_codec.ids_of(rows) if index.ntotal else np.zeros(0, np.int64)
    if kind not in ("FlatEncoding", "ProductQuantizer", "FastScanPQ", *SQ_TYPES):
        raise VtoolError(f"{spec}: not exported to faiss yet; these are: {SUPPORTED}")
    if not structure.has_centroids:
        if kind == "FlatEncoding":
            flat = faiss.IndexFlatL2(d) if metric == faiss.METRIC_L2 else faiss.IndexFlatIP(d)
        elif kind in SQ_TYPES:
            flat = faiss.IndexScalarQuantizer(d, _sq_type(faiss, kind), metric)
            _set_sq(faiss, flat.sq, enc)
            flat.is_trained = True
        else:
            raise VtoolError(f"{spec}: not exported to faiss yet; these are: {SUPPORTED}")
        target = flat if np.array_equal(ids, rows) else faiss.IndexIDMap(flat)  # around an empty index
        if len(codes):  # the rows as they are (a Flat row is its float32 bytes)
            target.add_sa_codes(np.ascontiguousarray(codes, np.uint8), np.ascontiguousarray(ids, np.int64))
        if target is not flat:
            target.own_fields = True
            flat.this.disown()
        return target
    if type(structure).__name__ != "IVF":
        raise VtoolError(f"{spec}: not exported to faiss yet; these are: {SUPPORTED}")
    quantizer = faiss.IndexFlatL2(d) if metric == faiss.METRIC_L2 else faiss.IndexFlatIP(d)
    quantizer.add(np.ascontiguousarray(structure.centroids, np.float32))
    nlist = index.nlist
    if kind == "FlatEncoding":
        out = faiss.IndexIVFFlat(quantizer, d, nlist, metric)
    elif kind == "ProductQuantizer" and enc.nbits == 8:
        out = faiss.IndexIVFPQ(quantizer, d, nlist, enc.m, 8, metric)
        faiss.copy_array_to_vector(np.ascontiguousarray(enc.codebooks, np.float32).ravel(), out.pq.centroids)
        out.by_residual = enc.by_residual
    elif kind == "FastScanPQ":
        # 4-bit IndexIVFPQ codes are vtool's packed nibbles; faiss re-lays them out in its blocks
        out = faiss.IndexIVFPQ(quantizer, d, nlist, enc.m, 4, metric)
        faiss.copy_array_to_vector(np.ascontiguousarray(enc.codebooks, np.float32).ravel(), out.pq.centroids)
        out.by_residual = enc.by_residual
    elif kind in SQ_TYPES:
        out = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, _sq_type(faiss, kind), metric, enc.by_residual)
        _set_sq(faiss, out.sq, enc)
    else:
        raise VtoolError(f"{spec}: not exported to faiss yet; these are: {SUPPORTED}")
    out.own_fields = True
    quantizer.this.disown()
    out.is_trained = True
    if kind == "ProductQuantizer" and enc.by_residual and metric == faiss.METRIC_L2:
        out.precompute_table()
    offsets = index.list_offsets
    for lst in np.flatnonzero(np.diff(offsets)):
        a, b = int(offsets[lst]), int(offsets[lst + 1])
        list_ids = np.ascontiguousarray(ids[a:b], np.int64)
        list_codes = np.ascontiguousarray(codes[a:b], np.uint8)
        out.invlists.add_entries(int(lst), b - a, faiss.swig_ptr(list_ids), faiss.swig_ptr(list_codes))
    out.ntotal = index.ntotal
    if kind == "FastScanPQ":
        fast = faiss.IndexIVFPQFastScan(out)  # shares the quantizer: hand its ownership over
        out.own_fields, fast.own_fields = False, True
        return fast
    return out


SQ_TYPES = {"SQ8": "QT_8bit", "SQfp16": "QT_fp16", "SQ8Direct": "QT_8bit_direct",
            "SQ8DirectSigned": "QT_8bit_direct_signed"}  # vtool encoding class -> faiss qtype


def _sq_type(faiss, kind: str) -> int:
    return getattr(faiss.ScalarQuantizer, SQ_TYPES[kind])


def _set_sq(faiss, sq, enc) -> None:
    """The trained state faiss's scalar quantizer needs: SQ8's per-dimension min and range."""
    if type(enc).__name__ == "SQ8":
        faiss.copy_array_to_vector(np.concatenate([enc.vmin, enc.vdiff]).astype(np.float32), sq.trained)


def export(index_path: str, output: str, verify: bool = True) -> dict:
    """Write a vtool index as a faiss index file (atomically)."""
    from vtool.index.index import load_index
    from vtool.io.atomic import atomic_path, check_output_path

    check_output_path(output)
    index = load_index(index_path, verify=verify)
    faiss = _faiss()
    built = to_faiss(index)
    with atomic_path(output) as tmp:
        faiss.write_index(built, str(tmp))
    return {"index": index_path, "spec": str(index.spec), "faiss_type": type(built).__name__,
            "ntotal": int(built.ntotal), "output": output}


def _downcast(faiss, ix):
    return faiss.downcast_index(ix)


def from_faiss(ix):
    """(spec, metric, arrays: trained sections, codes in list order, ids, list offsets, raw
    vectors by row or None) of a faiss index of a supported type; VtoolError naming any other."""
    faiss = _faiss()
    ix = _downcast(faiss, ix)
    refine = None
    if isinstance(ix, faiss.IndexRefineFlat):
        flat = _downcast(faiss, ix.refine_index)
        refine = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).copy().reshape(flat.ntotal, flat.d)
        ix = _downcast(faiss, ix.base_index)
    opq = None
    if isinstance(ix, faiss.IndexPreTransform):
        transform = _downcast_vt(faiss, ix.chain.at(0)) if ix.chain.size() == 1 else None
        if not isinstance(transform, faiss.LinearTransform) or not transform.is_orthonormal:
            raise VtoolError("faiss IndexPreTransform: vtool reads one orthonormal linear transform (OPQ) before "
                             "the index")
        if transform.have_bias:
            raise VtoolError("faiss OPQMatrix with a bias: vtool's OPQ has none")
        opq = (faiss.vector_to_array(transform.A).reshape(transform.d_out, transform.d_in).T.copy(),
               transform.d_out)
        ix = _downcast(faiss, ix.index)
    spec, metric, trained, codes, ids, offsets = _core_from_faiss(faiss, ix)
    if opq is not None:
        m = trained["pq_codebooks"].shape[0] if "pq_codebooks" in trained else None
        if m is None:
            raise VtoolError("faiss OPQ before a non-PQ index: vtool's OPQ goes with PQ")
        spec = f"OPQ{m}" + (f"_{opq[1]}" if opq[1] != opq[0].shape[0] else "") + "," + spec
        trained["opq_matrix"] = opq[0]
    rows_raw = None
    if refine is not None:
        if len(refine) != len(ids) or (len(ids) and (ids.min() < 0 or ids.max() >= len(refine))):
            raise VtoolError("faiss IndexRefineFlat whose refine vectors do not match the ids")
        spec += ",RFlat"
        rows_raw = refine[ids]
    return spec, metric, trained, codes, ids, offsets, rows_raw


def _downcast_vt(faiss, vt):
    return faiss.downcast_VectorTransform(vt)


def _core_from_faiss(faiss, ix):
    name = type(ix).__name__
    ids = None
    if isinstance(ix, faiss.IndexIDMap):
        ids = faiss.vector_to_array(ix.id_map).astype(np.int64)
        ix = _downcast(faiss, ix.index)
        name = type(ix).__name__
    if ix.metric_type not in (faiss.METRIC_L2, faiss.METRIC_INNER_PRODUCT):
        raise VtoolError(f"faiss metric {ix.metric_type}: vtool reads L2 and inner product indexes")
    metric = "l2" if ix.metric_type == faiss.METRIC_L2 else "ip"
    d = ix.d
    if isinstance(ix, (faiss.IndexFlat, faiss.IndexScalarQuantizer)):
        trained = {}
        token = "Flat" if isinstance(ix, faiss.IndexFlat) else _sq_token(faiss, ix.sq, d, trained, "IndexScalarQuantizer")
        codes = faiss.rev_swig_ptr(ix.codes.data(), ix.ntotal * ix.code_size).copy() if ix.ntotal \
            else np.zeros(0, np.uint8)
        return token, metric, trained, codes.reshape(ix.ntotal, ix.code_size), \
            ids if ids is not None else np.arange(ix.ntotal, dtype=np.int64), np.array([0, ix.ntotal], np.int64)
    if not isinstance(ix, faiss.IndexIVF) or ids is not None:
        raise VtoolError(f"faiss {name}: not imported yet; vtool reads {SUPPORTED}")
    quantizer = _downcast(faiss, ix.quantizer)
    if not isinstance(quantizer, faiss.IndexFlat):
        raise VtoolError(f"faiss {name} with a {type(quantizer).__name__} quantizer: vtool reads flat quantizers")
    nlist = ix.nlist
    centroids = faiss.rev_swig_ptr(quantizer.get_xb(), nlist * d).copy().reshape(nlist, d)
    trained = {"centroids": centroids}
    if isinstance(ix, faiss.IndexIVFFlat) and name == "IndexIVFFlat":
        spec = f"IVF{nlist},Flat"
    elif isinstance(ix, faiss.IndexIVFPQ) and name == "IndexIVFPQ":
        if ix.pq.nbits != 8:
            raise VtoolError(f"faiss IndexIVFPQ with {ix.pq.nbits}-bit codes: vtool reads 8-bit IVF-PQ codes "
                             "(and 4-bit ones in IndexIVFPQFastScan)")
        spec = f"IVF{nlist},PQ{ix.pq.M}" + ("" if ix.by_residual else "np")
        trained["pq_codebooks"] = faiss.vector_to_array(ix.pq.centroids).reshape(ix.pq.M, 256, ix.pq.dsub)
    elif name == "IndexIVFPQFastScan":
        if ix.pq.nbits != 4 or ix.bbs != 32:
            raise VtoolError(f"faiss IndexIVFPQFastScan with {ix.pq.nbits}-bit codes in blocks of {ix.bbs}: "
                             "vtool reads 4-bit codes in blocks of 32")
        spec = f"IVF{nlist},PQ{ix.pq.M}x4fs" + ("" if ix.by_residual else "np")
        trained["pq_codebooks"] = faiss.vector_to_array(ix.pq.centroids).reshape(ix.pq.M, 16, ix.pq.dsub)
    elif name == "IndexIVFScalarQuantizer":
        token = _sq_token(faiss, ix.sq, d, trained, name)
        residual = token in ("SQ8", "SQfp16")  # vtool's min/max and fp16 SQ encode residuals, the direct ones bytes
        if ix.by_residual != residual:
            raise VtoolError(f"faiss {name} {token}{'' if ix.by_residual else ' not'} by residual: vtool's {token} "
                             f"is{'' if residual else ' not'}")
        spec = f"IVF{nlist},{token}"
    else:
        raise VtoolError(f"faiss {name}: not imported yet; vtool reads {SUPPORTED}")
    invlists = ix.invlists
    sizes = np.array([invlists.list_size(i) for i in range(nlist)], np.int64)
    offsets = np.zeros(nlist + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    codes = np.empty((int(offsets[-1]), ix.code_size), np.uint8)
    all_ids = np.empty(int(offsets[-1]), np.int64)
    for i in np.flatnonzero(sizes):
        n = int(sizes[i])
        codes[offsets[i]:offsets[i + 1]] = _list_codes(faiss, ix, int(i), n)
        all_ids[offsets[i]:offsets[i + 1]] = faiss.rev_swig_ptr(invlists.get_ids(int(i)), n)
    return spec, metric, trained, codes, all_ids, offsets


def _sq_token(faiss, sq, d: int, trained: dict, name: str) -> str:
    """The vtool encoding token of a faiss scalar quantizer (its trained state into `trained`)."""
    token = {getattr(faiss.ScalarQuantizer, qt): t for t, qt in
             (("SQ8", "QT_8bit"), ("SQfp16", "QT_fp16"), ("SQ8_direct", "QT_8bit_direct"),
              ("SQ8_direct_signed", "QT_8bit_direct_signed"))}.get(sq.qtype)
    if token is None:
        raise VtoolError(f"faiss {name} of type {sq.qtype}: vtool reads QT_8bit, QT_fp16, QT_8bit_direct "
                         "and QT_8bit_direct_signed")
    if token == "SQ8":
        values = faiss.vector_to_array(sq.trained)
        trained["sq_vmin"], trained["sq_vdiff"] = values[:d].copy(), values[d:].copy()
    return token


def _list_codes(faiss, ix, lst: int, n: int) -> np.ndarray:
    """One inverted list's codes, a row per vector (a fast-scan list unpacked from faiss's blocks)."""
    if not isinstance(ix, faiss.IndexIVFFastScan):
        return faiss.rev_swig_ptr(ix.invlists.get_codes(lst), n * ix.code_size).reshape(n, ix.code_size).copy()
    packer = ix.get_CodePacker()
    blocks = (n + packer.nvec - 1) // packer.nvec
    packed = faiss.rev_swig_ptr(ix.invlists.get_codes(lst), blocks * packer.block_size).copy()
    rows = np.empty((blocks * packer.nvec, ix.code_size), np.uint8)
    for b in range(blocks):
        packer.unpack_all(faiss.swig_ptr(packed[b * packer.block_size:]), faiss.swig_ptr(rows[b * packer.nvec:]))
    return rows[:n]


def describe(path: str) -> dict:
    """What a faiss index file holds, read without converting it: type, d, metric, ntotal, and
    for IVF nlist, code size and list sizes."""
    faiss = _faiss()
    try:
        read = faiss.read_index(path)  # owns the index: keep it while the downcast view is used
    except RuntimeError as e:
        raise VtoolError(f"{path}: not a faiss index file ({str(e).splitlines()[0][:120]})") from None
    ix = faiss.downcast_index(read)
    out = {"type": "faiss index", "faiss_type": type(ix).__name__, "dim": int(ix.d), "ntotal": int(ix.ntotal),
           "metric": {faiss.METRIC_L2: "l2", faiss.METRIC_INNER_PRODUCT: "ip"}.get(ix.metric_type, str(ix.metric_type)),
           "is_trained": bool(ix.is_trained)}
    inner = ix
    if isinstance(ix, faiss.IndexIDMap):
        inner = faiss.downcast_index(ix.index)
        out["inner_type"] = type(inner).__name__
    if isinstance(inner, faiss.IndexIVF):
        sizes = np.array([inner.invlists.list_size(i) for i in range(inner.nlist)], np.int64)
        out.update(nlist=int(inner.nlist), code_size=int(inner.code_size), nprobe=int(inner.nprobe),
                   inverted_lists=f"sizes {sizes.min()}..{sizes.max()}, mean {sizes.mean():.1f}, empty {int((sizes == 0).sum())}")
    elif hasattr(inner, "code_size"):
        out["code_size"] = int(inner.code_size)
    try:
        from_faiss(read)
        out["vtool_import"] = "supported"
    except VtoolError as e:
        out["vtool_import"] = str(e.message)
    return out


def _hnsw_graph(faiss, ix):
    """(M, levels uint8, level0 (n, 2M), upper, vectors) of a faiss IndexHNSWFlat, checked to be
    laid out as vtool's graphs are (2M level-0 slots, M above, entry the first top node)."""
    h, n, d = ix.hnsw, ix.ntotal, ix.d
    cum = faiss.vector_to_array(h.cum_nneighbor_per_level).astype(np.int64)
    m = int(cum[2] - cum[1]) if len(cum) > 2 else int(cum[1] // 2)
    if cum[1] != 2 * m:
        raise VtoolError(f"faiss IndexHNSWFlat with {cum[1]} level-0 slots and {m} above: vtool's graphs have 2M and M")
    if ix.metric_type != faiss.METRIC_L2:
        raise VtoolError("faiss IndexHNSWFlat with inner product: vtool imports L2 graphs")
    levels = faiss.vector_to_array(h.levels).astype(np.int64) - 1
    if n and (levels.min() < 0 or levels.max() > 63):
        raise VtoolError("faiss IndexHNSWFlat with node levels vtool does not hold (0 to 63)")
    if n and (not 0 <= int(h.entry_point) < n or levels[int(h.entry_point)] != levels.max()):
        raise VtoolError(f"faiss IndexHNSWFlat whose entry point ({h.entry_point}) is not a node of its top level")
    offsets = faiss.vector_to_array(h.offsets).astype(np.int64)
    neighbors = faiss.vector_to_array(h.neighbors).astype(np.int32)
    level0 = np.stack([neighbors[offsets[i]:offsets[i] + 2 * m] for i in range(n)]) if n \
        else np.zeros((0, 2 * m), np.int32)
    upper = np.concatenate([neighbors[offsets[i] + cum[lv]:offsets[i] + cum[lv] + m]
                            for i in range(n) for lv in range(1, int(levels[i]) + 1)] or [np.zeros(0, np.int32)])
    storage = faiss.downcast_index(ix.storage)
    vectors = faiss.rev_swig_ptr(storage.get_xb(), n * d).copy().reshape(n, d) if n else np.zeros((0, d), np.float32)
    return m, levels.astype(np.uint8), level0, upper.astype(np.int32), vectors


def _write_hnsw(faiss, ix, ids, path: str, output: str) -> dict:
    """A vtool HNSW<M>,Flat index file of faiss's graph, vectors and ids."""
    from vtool.index.container import SectionSpec, VtiWriter
    from vtool.index.index import Index, load_index
    from vtool.index.spec import parse_spec
    from vtool.io.atomic import atomic_path

    m, levels, level0, upper, vectors = _hnsw_graph(faiss, ix)
    n = len(levels)
    ids = np.arange(n, dtype=np.int64) if ids is None else ids
    entry = int(ix.hnsw.entry_point) if n else -1  # faiss's entry, kept (vtool's own rule would take another)
    model = Index(parse_spec(f"HNSW{m},Flat"), ix.d, "l2",
                  options={"hnsw_ef_construction": int(ix.hnsw.efConstruction), "hnsw_entry": entry})
    model.header = {"model_fingerprint": model.fingerprint()}
    sections = {"list_offsets": np.array([0, n], np.int64), "codes": vectors.view(np.uint8).reshape(n, 4 * ix.d),
                "ids": ids, "hnsw_levels": levels, "hnsw_level0": level0, "hnsw_upper": upper}
    provenance = {"import": {"faiss_file": str(path), "faiss_type": "IndexHNSWFlat"}}
    with atomic_path(output) as tmp:
        w = VtiWriter(tmp, model.make_header(n, provenance), [SectionSpec(k, a.dtype.str, a.shape)
                                                             for k, a in sections.items()])
        for name, a in sections.items():
            w.section(name)[...] = a
        w.finish()
    load_index(output)  # the graph checked as any file's
    return {"file": path, "spec": f"HNSW{m},Flat", "metric": "l2", "ntotal": n, "output": output}


def import_index(path: str, output: str) -> dict:
    """Write a faiss index file as a vtool index (atomically)."""
    from vtool.index.index import Index
    from vtool.index.spec import parse_spec
    from vtool.io.atomic import check_output_path
    from vtool.io.inputs import check_input_file

    check_output_path(output)
    faiss = _faiss()
    source = check_input_file(path)
    try:
        ix = faiss.read_index(source)
    except RuntimeError as e:
        raise VtoolError(f"{path}: not a faiss index file ({str(e).splitlines()[0][:120]})") from None
    top = _downcast(faiss, ix)
    inner = _downcast(faiss, top.index) if isinstance(top, faiss.IndexIDMap) else top
    if isinstance(inner, faiss.IndexHNSWFlat):
        ids = faiss.vector_to_array(top.id_map).astype(np.int64) if inner is not top else None
        return _write_hnsw(faiss, inner, ids, path, output)
    spec_text, metric, trained, codes, ids, offsets, raw = from_faiss(ix)
    index = Index(parse_spec(spec_text), ix.d, metric)
    index.load_trained(trained)
    lists = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    index.append(lists, codes, ids, raw)
    index.header["provenance"] = {"import": {"faiss_file": str(path), "faiss_type": type(_downcast(faiss, ix)).__name__}}
    index.save(output)
    return {"file": path, "spec": spec_text, "metric": metric, "ntotal": int(len(ids)), "output": output}
