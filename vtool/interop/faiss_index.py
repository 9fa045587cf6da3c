"""faiss index files in and out: the library behind `vtool export --to faiss` and `vtool import`.

Built with faiss's own Python API and read/written with faiss.write_index / read_index, so the
file is whatever faiss makes of it; faiss-cpu is the optional extra `vtool[faiss]`. Trained
state, codes and ids are taken as they are (no retraining): vtool's SQ8 / SQfp16 / PQ codes
are faiss's codes, its IVF lists faiss's inverted lists.

Types, both ways (vtool spec <-> faiss):
  Flat                      IndexFlatL2 / IndexFlatIP, in IndexIDMap when the ids are not 0..n-1
  IVF<n>,Flat               IndexIVFFlat
  IVF<n>,PQ<m> (8-bit)      IndexIVFPQ, by residual (faiss's default; vtool's too)
  IVF<n>,SQ8 / ,SQfp16      IndexIVFScalarQuantizer QT_8bit / QT_fp16, by residual
A compressed vtool index is read decoded; anything else is refused in one line naming it.
"""

from __future__ import annotations

import numpy as np

from vtool.errors import VtoolError

SUPPORTED = "Flat, IVF<n>,Flat, IVF<n>,PQ<m> (8-bit codes, by residual), IVF<n>,SQ8, IVF<n>,SQfp16"


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
    spec, enc, structure = index.spec, index.encoding, index.structure
    if spec.transform is not None or spec.refine or structure.is_graph or index.cosine:
        raise VtoolError(f"{spec}{' (metric cosine)' if index.cosine else ''}: not exported to faiss yet; "
                         f"these are: {SUPPORTED}")
    d, metric = index.d, _metric(faiss, index.metric)
    kind = type(enc).__name__
    rows = np.arange(index.ntotal)
    with index.decoding():
        codes = index.store.rows(rows) if index.ntotal else np.zeros((0, enc.code_size), np.uint8)
        ids = index.id_codec.ids_of(rows) if index.ntotal else np.zeros(0, np.int64)
    if not structure.has_centroids:
        if kind != "FlatEncoding":
            raise VtoolError(f"{spec}: not exported to faiss yet; these are: {SUPPORTED}")
        flat = faiss.IndexFlatL2(d) if metric == faiss.METRIC_L2 else faiss.IndexFlatIP(d)
        vectors = np.ascontiguousarray(codes).view(np.float32).reshape(-1, d)
        if np.array_equal(ids, rows):
            flat.add(vectors)
            return flat
        mapped = faiss.IndexIDMap(flat)  # around an empty index, as faiss requires
        mapped.add_with_ids(vectors, np.ascontiguousarray(ids, np.int64))
        mapped.own_fields = True
        flat.this.disown()
        return mapped
    if type(structure).__name__ != "IVF":
        raise VtoolError(f"{spec}: not exported to faiss yet; these are: {SUPPORTED}")
    quantizer = faiss.IndexFlatL2(d) if metric == faiss.METRIC_L2 else faiss.IndexFlatIP(d)
    quantizer.add(np.ascontiguousarray(structure.centroids, np.float32))
    nlist = index.nlist
    if kind == "FlatEncoding":
        out = faiss.IndexIVFFlat(quantizer, d, nlist, metric)
    elif kind == "ProductQuantizer" and enc.nbits == 8 and enc.by_residual:
        out = faiss.IndexIVFPQ(quantizer, d, nlist, enc.m, 8, metric)
        faiss.copy_array_to_vector(np.ascontiguousarray(enc.codebooks, np.float32).ravel(), out.pq.centroids)
        out.by_residual = True
    elif kind in ("SQ8", "SQfp16"):
        qtype = faiss.ScalarQuantizer.QT_8bit if kind == "SQ8" else faiss.ScalarQuantizer.QT_fp16
        out = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, qtype, metric, True)
        if kind == "SQ8":
            faiss.copy_array_to_vector(np.concatenate([enc.vmin, enc.vdiff]).astype(np.float32), out.sq.trained)
    else:
        raise VtoolError(f"{spec}: not exported to faiss yet; these are: {SUPPORTED}")
    out.own_fields = True
    quantizer.this.disown()
    out.is_trained = True
    if kind == "ProductQuantizer" and metric == faiss.METRIC_L2:
        out.precompute_table()
    offsets = index.list_offsets
    for lst in np.flatnonzero(np.diff(offsets)):
        a, b = int(offsets[lst]), int(offsets[lst + 1])
        list_ids = np.ascontiguousarray(ids[a:b], np.int64)
        list_codes = np.ascontiguousarray(codes[a:b], np.uint8)
        out.invlists.add_entries(int(lst), b - a, faiss.swig_ptr(list_ids), faiss.swig_ptr(list_codes))
    out.ntotal = index.ntotal
    return out


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
    """(spec, metric, arrays: trained sections, codes in list order, ids, list offsets) of a
    faiss index of a supported type; VtoolError naming any other type."""
    faiss = _faiss()
    ix = _downcast(faiss, ix)
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
    if isinstance(ix, faiss.IndexFlat):
        xb = faiss.rev_swig_ptr(ix.get_xb(), ix.ntotal * d).copy().reshape(ix.ntotal, d) if ix.ntotal \
            else np.zeros((0, d), np.float32)
        return "Flat", metric, {}, xb.view(np.uint8).reshape(ix.ntotal, 4 * d), \
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
        if ix.pq.nbits != 8 or not ix.by_residual:
            raise VtoolError(f"faiss IndexIVFPQ with {ix.pq.nbits}-bit codes{'' if ix.by_residual else ', not by residual'}"
                             ": vtool reads 8-bit codes by residual")
        spec = f"IVF{nlist},PQ{ix.pq.M}"
        trained["pq_codebooks"] = faiss.vector_to_array(ix.pq.centroids).reshape(ix.pq.M, 256, ix.pq.dsub)
    elif name == "IndexIVFScalarQuantizer":
        qtype = ix.sq.qtype
        if not ix.by_residual:
            raise VtoolError("faiss IndexIVFScalarQuantizer not by residual: vtool reads residual scalar quantizers")
        if qtype == faiss.ScalarQuantizer.QT_8bit:
            spec = f"IVF{nlist},SQ8"
            sq = faiss.vector_to_array(ix.sq.trained)
            trained["sq_vmin"], trained["sq_vdiff"] = sq[:d].copy(), sq[d:].copy()
        elif qtype == faiss.ScalarQuantizer.QT_fp16:
            spec = f"IVF{nlist},SQfp16"
        else:
            raise VtoolError(f"faiss IndexIVFScalarQuantizer of type {qtype}: vtool reads QT_8bit and QT_fp16")
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
        codes[offsets[i]:offsets[i + 1]] = faiss.rev_swig_ptr(invlists.get_codes(int(i)), n * ix.code_size) \
            .reshape(n, ix.code_size)
        all_ids[offsets[i]:offsets[i + 1]] = faiss.rev_swig_ptr(invlists.get_ids(int(i)), n)
    return spec, metric, trained, codes, all_ids, offsets


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
    spec_text, metric, trained, codes, ids, offsets = from_faiss(ix)
    index = Index(parse_spec(spec_text), ix.d, metric)
    index.load_trained(trained)
    lists = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    index.append(lists, codes, ids, None)
    index.header["provenance"] = {"import": {"faiss_file": str(path), "faiss_type": type(_downcast(faiss, ix)).__name__}}
    index.save(output)
    return {"file": path, "spec": spec_text, "metric": metric, "ntotal": int(len(ids)), "output": output}
