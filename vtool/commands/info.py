"""What a file holds: the library behind `vtool info`."""

from __future__ import annotations

import os

from pathlib import Path

import numpy as np

from vtool.errors import VtoolError
from vtool.index.container import MAGIC, VtiFile
from vtool.io.codes import is_codes_file, open_codes
from vtool.io.inputs import check_input_file, shown
from vtool.io.parquet import open_parquet
from vtool.io.results import RANGE_FORMATS, read_range_results, read_results, results_kind
from vtool.io.vectors import FORMATS_BY_SUFFIX, open_vectors


INFO_FORMATS = ("vti", "faiss", "npz", "parquet", "npy", "ibin", "rbin", "fvecs", "bvecs", "ivecs", "fbin", "u8bin",
                "i8bin", "hdf5")


def describe(path: str, verify: bool = True, fmt: str | None = None) -> dict:
    """What a file holds, for every file vtool reads or writes: an index or model, vectors,
    a code file, k-NN results or ground truth (.npz, .parquet, the big-ann .ibin layout), ids
    (.npy integers). fmt overrides the extension."""
    if fmt is not None and fmt not in INFO_FORMATS:
        raise VtoolError(f"unknown format {fmt!r}; choose {', '.join(INFO_FORMATS)}")
    path = check_input_file(path)
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    kind = fmt or ("vti" if head == MAGIC else Path(path).suffix.lower().lstrip("."))
    if kind == "vti":
        return describe_index(path, verify)
    base = {"file": shown(path), "bytes": os.path.getsize(path)}
    if kind == "faiss":
        from vtool.interop import faiss_index

        return {**base, **faiss_index.describe(path)}
    if kind in RANGE_FORMATS and results_kind(path, kind) == "range":
        lims, ids, dist = read_range_results(path, kind)
        counts = np.diff(lims)
        return {**base, "type": "range results", "format": kind, "queries": int(len(lims) - 1),
                "results": int(lims[-1]), "results_per_query": f"{counts.min() if len(counts) else 0}.."
                f"{counts.max() if len(counts) else 0}, mean {counts.mean() if len(counts) else 0:.2f}",
                "queries_without_results": int((counts == 0).sum()), **_id_range(ids)}
    if kind == "npz" or (kind not in INFO_FORMATS and head.startswith(b"PK")):
        return {**base, **_results(path, "npz")}
    if kind == "parquet":
        if is_codes_file(path):
            return {**base, **_codes(path)}
        columns = set(open_parquet(path).schema_arrow.names)
        if {"query", "rank", "id", "distance"} <= columns:
            return {**base, **_results(path, "parquet")}
    if kind == "npy":
        if is_codes_file(path):
            return {**base, **_codes(path)}
        arr = _npy(path)
        if isinstance(arr, np.ndarray) and arr.dtype.kind in "iu" and arr.dtype.itemsize == 8:
            return {**base, "type": "ids", "format": "npy", "shape": list(arr.shape), "dtype": str(arr.dtype),
                    **_id_range(np.asarray(arr))}
    if kind == "ibin" and _is_results_ibin(path):
        return {**base, **_results(path, "ibin")}
    vf = open_vectors(path, fmt if fmt in FORMATS_BY_SUFFIX.values() else None)
    return {**base, "type": "vectors", "format": vf.format, "rows": vf.n, "dim": vf.d, "dtype": str(vf.dtype)}


def _npy(path: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise VtoolError(f"{path}: not a valid .npy file ({str(e).splitlines()[0] if str(e) else e})") from None


def _is_results_ibin(path: str) -> bool:
    """The big-ann k-NN layout (uint32 n, uint32 k, int32 ids, float32 distances: 8 + 8nk
    bytes), as opposed to int32 vectors (8 + 4nd bytes)."""
    size = os.path.getsize(path)
    if size < 8:
        return False
    n, k = (int(v) for v in np.fromfile(path, dtype="<u4", count=2))
    return size == 8 + 8 * n * k and n * k > 0


def _id_range(ids: np.ndarray) -> dict:
    found = ids[ids >= 0]
    return {"ids": f"{found.min()}..{found.max()}" if found.size else "none", "missing": int((ids < 0).sum())}


def _results(path: str, fmt: str) -> dict:
    ids, dist = read_results(path, fmt=fmt)
    out = {"type": "results", "format": fmt, "queries": int(ids.shape[0]), "k": int(ids.shape[1]),
           "distances": dist is not None, **_id_range(ids)}
    if dist is not None and np.isfinite(dist).any():
        finite = dist[np.isfinite(dist)]
        out["distance_range"] = f"{finite.min():.6g}..{finite.max():.6g}"
    return out


def _codes(path: str) -> dict:
    codes = open_codes(path)
    lists = set()
    for _, list_ids, _ in codes.batches():
        lists.update(np.unique(list_ids).tolist())
    return {"type": "codes", "format": Path(path).suffix.lstrip("."), "rows": codes.n, "code_size": codes.code_size,
            "model_fingerprint": codes.fingerprint, "lists": len(lists - {-1})}


def describe_index(path: str, verify: bool = True) -> dict:
    from vtool.index.index import load_index

    f = VtiFile(path)
    if verify:
        f.verify()
    index = load_index(path, verify=False)
    sizes = index.list_sizes
    out = {"file": shown(path), "type": index.header["kind"], "spec": str(index.spec), "dim": index.d,
           "metric": index.metric_name, "ntotal": index.ntotal, "nlist": index.nlist,
           "id_codec": index.header.get("id_codec", "int64"),
           "format_version": f.header.get("format_version", 1), "bytes": os.path.getsize(path),
           "sections": f.section_sizes(), "vtool_version": index.header.get("vtool_version"),
           "provenance": index.header.get("provenance", {}), "checksums_verified": verify}
    if index.ntotal:
        out["id_bits_per_vector"] = index.id_codec.bits() / index.ntotal
        graph = index.structure.describe()
        if graph:
            out["graph"] = graph
        else:
            out["list_sizes"] = list_size_summary(sizes)
    return out


def list_size_summary(sizes: np.ndarray, bins: int = 8) -> dict:
    """Min/max/mean and a log-spaced histogram: IVF balance at a glance."""
    edges = np.unique(np.concatenate([[0], np.geomspace(1, max(int(sizes.max()), 1) + 1, bins).astype(np.int64)]))
    counts, _ = np.histogram(sizes, bins=edges)
    return {"min": int(sizes.min()), "max": int(sizes.max()), "mean": float(sizes.mean()),
            "std": float(sizes.std()), "empty": int((sizes == 0).sum()),
            "histogram": [{"from": int(a), "to": int(b) - 1, "lists": int(c)}
                          for a, b, c in zip(edges[:-1], edges[1:], counts)]}
