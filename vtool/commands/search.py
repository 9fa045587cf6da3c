"""Searching an index with a file of queries: the library behind `vtool search`."""

from __future__ import annotations

import time

from vtool import _native
from vtool.index.index import load_index
from vtool.io.vectors import open_vectors
from vtool.errors import VtoolError


def search(index_path: str, queries_path: str, k: int = 10, nprobe: int | None = None, threads: int | None = None,
           verify: bool = True, fmt: str | None = None, column: str | None = None, k_factor: int = 4,
           refine: str | None = None, ef: int | None = None):
    """Returns (distances, ids, report); the report carries the timing eval uses for QPS."""
    threads = _native.default_threads() if threads is None else threads
    if threads < 1:
        raise VtoolError("--threads must be at least 1")
    index = load_index(index_path, verify=verify)
    if index.ntotal == 0:
        raise VtoolError(f"{index_path}: the index holds no vectors (run vtool add first)")
    qf = open_vectors(queries_path, fmt, column)
    if qf.d != index.d:
        raise VtoolError(f"{queries_path}: queries have dimension {qf.d}, the index has {index.d}")
    if k > index.ntotal:
        raise VtoolError(f"k={k} is larger than the number of indexed vectors ({index.ntotal})")
    shortlist = min(k * k_factor, index.ntotal) if refine is not None or index.refiner is not None else k
    # checked and clamped once, before the queries are read
    params = index.structure.search_params(nprobe, ef, shortlist)
    refine_rows = None
    if refine is not None:
        rf = open_vectors(refine)
        if rf.d != index.d:
            raise VtoolError(f"{refine}: vectors have dimension {rf.d}, the index has {index.d}")
        refine_rows = rf.random_access()
    queries = qf.read_all()
    t0 = time.perf_counter()
    dist, ids = index.search(queries, k, threads=threads, k_factor=k_factor, refine_vectors=refine_rows,
                             **params)
    seconds = time.perf_counter() - t0
    report = {"index": index_path, "spec": str(index.spec), "queries": len(queries), "k": k,
              "nprobe": params.get("nprobe"), "ef": params.get("ef"), "threads": threads,
              "simd": _native.simd_level(), "seconds": seconds,
              "qps": len(queries) / seconds if seconds > 0 else None}
    return dist, ids, report
