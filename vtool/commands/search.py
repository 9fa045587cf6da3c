"""Searching an index with a file of queries: the library behind `vtool search`."""

from __future__ import annotations

import functools
import time

import numpy as np

from vtool import _native, log, memory
from vtool.distributed import DaskOptions
from vtool.index.refine import DEFAULT_K_FACTOR, rerank
from vtool.index.index import load_index
from vtool.io.vectors import open_vectors
from vtool.errors import VtoolError
from vtool.workers import row_ranges


def search(index_path: str, queries_path: str, k: int = 10, nprobe: int | None = None, threads: int | None = None,
           verify: bool = True, fmt: str | None = None, column: str | None = None, k_factor: int | None = None,
           refine: str | None = None, ef: int | None = None, refine_id_column: str | None = None,
           dask: DaskOptions | None = None):
    """Returns (distances, ids, report); the report carries the timing eval uses for QPS.
    refine: exact re-ranking against these vectors, row number = id, or ids from
    refine_id_column (Parquet). dask: the queries in ranges on a Dask cluster, each worker
    opening the index (memory-mapped) once; the results are the local ones."""
    threads = _threads(threads)
    index, qf = _open(index_path, queries_path, verify, fmt, column)
    nprobe, ef, k_factor, tuned = _defaults(index, nprobe, ef, k_factor)
    if k > index.ntotal:
        raise VtoolError(f"k={k} is larger than the number of indexed vectors ({index.ntotal})")
    shortlist = min(k * k_factor, index.ntotal) if refine is not None or index.refiner is not None else k
    # checked and clamped once, before the queries are read
    params = index.structure.search_params(nprobe, ef, shortlist)
    refine_rows, rf = None, None
    if refine is not None:
        rf = open_vectors(refine, column=column, id_column=refine_id_column)
        if rf.d != index.d:
            raise VtoolError(f"{refine}: vectors have dimension {rf.d}, the index has {index.d}")
        refine_rows = rf.random_access() if rf.has_random_access and not refine_id_column else None
    elif refine_id_column:
        raise VtoolError("--refine-id-column names a column of the --refine file: give --refine")
    queries = qf.read_all()
    t0 = time.perf_counter()
    if dask is not None:
        if rf is not None and refine_rows is None:
            raise VtoolError("--dask re-ranks from an .npy / .fbin --refine (row number = id); this one is read "
                             "as a stream: run without --dask")
        parts = _on_cluster(dask, index_path, verify, queries, search_queries, "search", k=k, k_factor=k_factor,
                            refine=refine, params=params)
        dist, ids = (np.concatenate([p[i] for p in parts]) for i in range(2))
        threads = None
    elif rf is not None and refine_rows is None:  # a stream: shortlist first, then its vectors in one pass
        dist, ids = _refine_from_stream(index, queries, rf, k, shortlist, threads, params)
    else:
        parts = _in_chunks(index, queries, params, lambda q: index.search(
            q, k, threads=threads, k_factor=k_factor, refine_vectors=refine_rows, **params), refine_rows)
        dist, ids = (np.concatenate(column) for column in zip(*parts))
    seconds = time.perf_counter() - t0
    report = {"index": index_path, "spec": str(index.spec), "queries": len(queries), "k": k,
              "nprobe": params.get("nprobe"), "ef": params.get("ef"), "k_factor": k_factor, "threads": threads,
              "parameters": "the index's defaults (vtool tune --write)" if tuned else "given or built-in",
              "simd": _native.simd_level(), "seconds": seconds,
              "qps": len(queries) / seconds if seconds > 0 else None}
    return dist, ids, report


def _refine_from_stream(index, queries: np.ndarray, rf, k: int, shortlist: int, threads: int, params: dict):
    """--refine from a file read in order (Parquet; or ids in a column): the shortlist of every
    query, then one pass over the file gathering the vectors of the ids it names (at most
    n_queries x shortlist rows in memory), then exact distances, best k (ties to the smaller id)."""
    _, cand = index.search(queries, shortlist, threads=threads, **params)
    needed = np.unique(cand[cand >= 0])
    gathered = np.zeros((len(needed), index.d), np.float32)
    found = np.zeros(len(needed), bool)
    for start, batch, batch_ids in rf.batches():
        ids = batch_ids if batch_ids is not None else np.arange(start, start + len(batch), dtype=np.int64)
        at = np.searchsorted(needed, ids)
        hit = (at < len(needed)) & (needed[np.minimum(at, len(needed) - 1)] == ids)
        gathered[at[hit]], found[at[hit]] = batch[hit], True
    if not found.all():
        raise VtoolError(f"{rf.path}: holds no vector for id {int(needed[~found][0])} of the index "
                         f"({int((~found).sum())} missing); --refine needs every indexed id")
    pos = np.where(cand >= 0, np.searchsorted(needed, np.maximum(cand, 0)), -1)
    dist, pos = rerank(index.prepare(queries, "queries"), pos, k, index.metric, index.prepare(gathered))
    ids = np.where(pos >= 0, needed[np.maximum(pos, 0)], -1)
    if index.metric == "ip":
        dist = np.where(pos >= 0, -dist, -np.inf).astype(np.float32)
    return dist, ids


def range_search(index_path: str, queries_path: str, radius: float, nprobe: int | None = None,
                 threads: int | None = None, verify: bool = True, fmt: str | None = None, column: str | None = None,
                 refine: str | None = None, ef: int | None = None, max_results: int | None = None,
                 dask: DaskOptions | None = None):
    """Every result within radius of every query: (lims, ids, distances, report). max_results
    keeps at most that many per query, the nearest, and the report counts the queries cut.
    dask: as for search."""
    threads = _threads(threads)
    if not np.isfinite(radius):
        raise VtoolError(f"--radius must be a finite number, got {radius}")
    if max_results is not None and max_results < 1:
        raise VtoolError("--max-results must be at least 1")
    index, qf = _open(index_path, queries_path, verify, fmt, column)
    nprobe, ef, _, tuned = _defaults(index, nprobe, ef, None)
    if index.metric == "l2" and radius < 0:
        raise VtoolError(f"--radius is a squared L2 distance: it cannot be negative ({radius})")
    params = index.structure.search_params(nprobe, ef)
    refine_rows = None
    if refine is not None:
        rf = open_vectors(refine)
        if rf.d != index.d:
            raise VtoolError(f"{refine}: vectors have dimension {rf.d}, the index has {index.d}")
        refine_rows = rf.random_access()
    queries = qf.read_all()
    t0 = time.perf_counter()
    if dask is not None:
        parts = _on_cluster(dask, index_path, verify, queries, range_queries, "range search", radius=radius,
                            refine=refine, params=params)
        lims, dist, ids = _join_ranges(parts)
        threads = None
    else:
        lims, dist, ids = _join_ranges(_in_chunks(index, queries, params, lambda q: index.range_search(
            q, radius, threads=threads, refine_vectors=refine_rows, **params), refine_rows))
    seconds = time.perf_counter() - t0
    counts = np.diff(lims)
    cut = int((counts > max_results).sum()) if max_results else 0
    if cut:
        keep = np.concatenate([np.arange(a, a + min(c, max_results)) for a, c in zip(lims[:-1], counts)])
        ids, dist = ids[keep], dist[keep]
        lims = np.zeros_like(lims)
        np.cumsum(np.minimum(counts, max_results), out=lims[1:])
        log.warning(f"{cut} of {len(queries)} queries had more than {max_results} results within the radius; "
                    "kept the nearest (--max-results)")
    report = {"index": index_path, "spec": str(index.spec), "queries": len(queries), "radius": radius,
              "results": int(lims[-1]), "results_per_query": float(lims[-1] / max(len(queries), 1)),
              "queries_cut": cut, "max_results": max_results, "nprobe": params.get("nprobe"), "ef": params.get("ef"),
              "parameters": "the index's defaults (vtool tune --write)" if tuned else "given or built-in",
              "threads": threads, "simd": _native.simd_level(), "seconds": seconds,
              "qps": len(queries) / seconds if seconds > 0 else None}
    return lims, ids, dist, report


def _in_chunks(index, queries: np.ndarray, params: dict, run, refine_rows=None) -> list:
    """[run(queries)]; under a memory budget, run over chunks of queries whose probed lists fit
    in a quarter of it, the index's pages (and a --refine file's) dropped from RSS after each.
    Not bounded: the queries and results, and a flat index (every query reads all of it)."""
    if memory.budget() is None or (index.mapping is not None and index.mapping.nbytes < memory.free() * 3 // 4):
        return [run(queries)]  # the whole index fits in the budget: nothing to release
    row = index.encoding.code_size + 8
    if "nprobe" in params:
        touched = params["nprobe"] * -(-index.ntotal // index.nlist) * row
    elif "ef" in params:
        touched = params["ef"] * 64 * row  # candidates, and the lists of the nodes expanded
    else:
        touched = index.ntotal * row
    step = max(1, min(len(queries), memory.free() // 4 // max(touched, 1)))
    parts = []
    for a in range(0, len(queries), step):
        parts.append(run(queries[a:a + step]))
        memory.release(index.mapping, refine_rows)
    return parts


def _join_ranges(parts):
    """Range results of consecutive query ranges, (lims, distances, ids) each, as one."""
    lims = np.concatenate([[0]] + [np.diff(p[0]) for p in parts]).cumsum()
    return lims, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def _on_cluster(dask: DaskOptions, index_path: str, verify: bool, queries: np.ndarray, fn, label: str, **args):
    """fn over ranges of the queries on a Dask cluster (the queries sent to each worker once),
    results in query order."""
    from vtool import distributed

    path = distributed.worker_path(index_path)
    if args.get("refine"):
        args["refine"] = distributed.worker_path(args["refine"])
    with distributed.cluster(dask) as cluster:
        ranges = row_ranges(len(queries), cluster.workers * dask.tasks_per_worker, 1)
        tasks = [(path, verify, a, b) for a, b in ranges]
        done = dict(cluster.map(functools.partial(fn, **args), tasks, label, sizes=[b - a for a, b in ranges],
                                queries=queries))
    return [done[i] for i in range(len(tasks))]


def _worker_search_inputs(index_path: str, verify: bool, refine: str | None):
    from vtool.distributed import worker_index

    return worker_index(index_path, verify), None if refine is None else open_vectors(refine).random_access()


def search_queries(index_path: str, verify: bool, a: int, b: int, k: int, k_factor: int, refine: str | None,
                   params: dict, queries: np.ndarray):
    """A Dask task: (distances, ids) of queries [a, b)."""
    index, refine_rows = _worker_search_inputs(index_path, verify, refine)
    return index.search(queries[a:b], k, threads=1, k_factor=k_factor, refine_vectors=refine_rows, **params)


def range_queries(index_path: str, verify: bool, a: int, b: int, radius: float, refine: str | None, params: dict,
                  queries: np.ndarray):
    """A Dask task: (lims, distances, ids) of queries [a, b) within radius."""
    index, refine_rows = _worker_search_inputs(index_path, verify, refine)
    return index.range_search(queries[a:b], radius, threads=1, refine_vectors=refine_rows, **params)


def _threads(threads: int | None) -> int:
    threads = _native.default_threads() if threads is None else threads
    if threads < 1:
        raise VtoolError("--threads must be at least 1")
    return threads


def _open(index_path: str, queries_path: str, verify: bool, fmt: str | None, column: str | None):
    """The index (holding vectors) and the query file (of its dimension), both checked."""
    index = load_index(index_path, verify=verify)
    if index.ntotal == 0:
        raise VtoolError(f"{index_path}: the index holds no vectors (run vtool add first)")
    qf = open_vectors(queries_path, fmt, column, queries=True)
    if qf.d != index.d:
        raise VtoolError(f"{queries_path}: queries have dimension {qf.d}, the index has {index.d}")
    return index, qf


def _defaults(index, nprobe, ef, k_factor):
    """The search parameters: as given; when none is given, those `vtool tune --write` stored
    in the index (logged); else the built-in ones. Returns (nprobe, ef, k_factor, tuned)."""
    from vtool.commands.tune import search_defaults

    stored = search_defaults(index.header) if nprobe is None and ef is None and k_factor is None else {}
    if stored:
        log.info("search parameters from the index (vtool tune): "
                 + ", ".join(f"{key} {value}" for key, value in stored.items()))
    return (stored.get("nprobe", nprobe), stored.get("ef", ef), stored.get("k_factor", k_factor or DEFAULT_K_FACTOR),
            bool(stored))
