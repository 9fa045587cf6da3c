"""k-NN results and ground truth: .npz, .parquet, big-ann .ibin, .ivecs, .npy.

Results are (ids int64 n x k, distances float32 n x k); id -1 marks "no result".
  .npz      arrays "ids" and "distances" (one file)
  .parquet  columns query (int64), rank (int32), id (int64), distance (float32)
  .ibin     big-ann-benchmarks kNN layout: uint32 n, uint32 k, int32 ids[n*k], float32 dists[n*k]
Ground truth is read from any of those, from .ivecs (ids only) or from .npy (ids only,
distances from a sibling file given with --gt-distances).
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np

from vtool.errors import VtoolError
from vtool.io.inputs import check_input_file, is_copy
from vtool.io.atomic import STDOUT, atomic_path
from vtool.io.parquet import WRITE_OPTIONS, read_table

RESULT_FORMATS = ("npz", "parquet", "ibin")


def result_format(path: str, override: str | None, formats: tuple[str, ...] = RESULT_FORMATS,
                  what: str = "results") -> str:
    """The layout results are written in: --out-format, else the extension (npz on stdout)."""
    if override:
        if override not in formats:
            raise VtoolError(f"unknown {what} format {override!r}; choose {', '.join(formats)}")
        return override
    if path == STDOUT:
        return "npz"
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in formats:
        raise VtoolError(f"{path}: {what} are written as {', '.join('.' + f for f in formats)} "
                         "(or pass --out-format)")
    return suffix


def _write_bytes(path: str, data: bytes) -> None:
    """Results to stdout for '-', else atomically to path."""
    if path == STDOUT:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _encode(ids: np.ndarray, dist: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    n, k = ids.shape
    if fmt == "npz":
        np.savez(buf, ids=ids.astype(np.int64), distances=dist.astype(np.float32))
    elif fmt == "ibin":
        if ids.max(initial=-1) >= 2**31:
            raise VtoolError("ids do not fit the .ibin result layout (int32); write .npz or .parquet")
        buf.write(np.array([n, k], dtype="<u4").tobytes())
        buf.write(ids.astype("<i4").tobytes())
        buf.write(dist.astype("<f4").tobytes())
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({
            "query": pa.array(np.repeat(np.arange(n, dtype=np.int64), k)),
            "rank": pa.array(np.tile(np.arange(k, dtype=np.int32), n)),
            "id": pa.array(ids.reshape(-1).astype(np.int64)),
            "distance": pa.array(dist.reshape(-1).astype(np.float32)),
        })
        pq.write_table(table, buf, **WRITE_OPTIONS)
    return buf.getvalue()


def write_results(path: str, ids: np.ndarray, dist: np.ndarray, fmt: str | None = None) -> None:
    """Write results atomically (or to stdout for '-')."""
    fmt = result_format(path, fmt)
    _write_bytes(path, _encode(ids, dist, fmt))


READ_FORMATS = ("npz", "parquet", "ibin", "ivecs", "npy")


def read_results(path: str, distances_path: str | None = None,
                 fmt: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(ids int64 n x k, distances float32 n x k or None) from any supported layout (fmt, or
    the extension); `-` reads standard input."""
    if fmt is not None and fmt not in READ_FORMATS:
        raise VtoolError(f"unknown results format {fmt!r}; choose {', '.join(READ_FORMATS)}")
    path = check_input_file(path)
    suffix = f".{fmt}" if fmt else Path(path).suffix.lower()
    if not fmt and is_copy(path) and suffix not in (".npz", ".parquet", ".npy"):
        raise VtoolError(f"{path}: cannot tell the format of a stream; pass --format ({', '.join(READ_FORMATS)})")
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "ids" not in z:
                    raise VtoolError(f"{path}: no 'ids' array in the archive")
                ids = z["ids"].astype(np.int64)
                dist = z["distances"].astype(np.float32) if "distances" in z else None
        elif suffix == ".parquet":
            ids, dist = _read_parquet_results(path)
        elif suffix in (".ibin", ".bin"):
            ids, dist = _read_ibin_results(path)
        elif suffix == ".ivecs":
            from vtool.io.vectors import open_vectors
            ids, dist = open_vectors(path).read_all().astype(np.int64), None
        elif suffix in (".hdf5", ".h5"):
            from vtool.io import hdf5

            ids, dist = hdf5.read_ground_truth(path)
        elif suffix == ".npy":
            ids = np.load(path, allow_pickle=False)
            if ids.ndim != 2 or ids.dtype.kind not in "iu":
                raise VtoolError(f"{path}: expected a 2-d integer array of ids, found {ids.dtype} {ids.shape}")
            ids, dist = ids.astype(np.int64), None
        else:
            raise VtoolError(f"{path}: cannot read results from a {suffix or 'suffix-less'} file "
                             "(use .npz, .parquet, .ibin, .ivecs or .npy)")
    except (ValueError, OSError, EOFError) as e:
        raise VtoolError(f"{path}: unreadable or truncated ({str(e).splitlines()[0]})") from None
    if distances_path:
        dist = np.load(check_input_file(distances_path), allow_pickle=False).astype(np.float32)
        if dist.shape != ids.shape:
            raise VtoolError(f"{distances_path}: shape {dist.shape} does not match ids {ids.shape}")
    if dist is not None and dist.shape != ids.shape:
        raise VtoolError(f"{path}: distances shape {dist.shape} does not match ids {ids.shape}")
    return ids, dist


def _read_ibin_results(path: str) -> tuple[np.ndarray, np.ndarray]:
    size = os.path.getsize(path)
    if size < 8:
        raise VtoolError(f"{path}: truncated (smaller than the 8-byte header)")
    n, k = (int(v) for v in np.fromfile(path, dtype="<u4", count=2))
    if size != 8 + 8 * n * k:
        raise VtoolError(f"{path}: header says {n} x {k} results ({8 + 8 * n * k} bytes), file has {size}")
    ids = np.fromfile(path, dtype="<i4", count=n * k, offset=8).reshape(n, k).astype(np.int64)
    dist = np.fromfile(path, dtype="<f4", count=n * k, offset=8 + 4 * n * k).reshape(n, k)
    return ids, dist


def _read_parquet_results(path: str) -> tuple[np.ndarray, np.ndarray]:
    t = read_table(path)
    for col in ("query", "rank", "id", "distance"):
        if col not in t.column_names:
            raise VtoolError(f"{path}: results parquet needs columns query, rank, id, distance")
    q = t["query"].to_numpy()
    r = t["rank"].to_numpy()
    n, k = int(q.max()) + 1, int(r.max()) + 1
    ids = np.full((n, k), -1, dtype=np.int64)
    dist = np.full((n, k), np.inf, dtype=np.float32)
    ids[q, r] = t["id"].to_numpy()
    dist[q, r] = t["distance"].to_numpy()
    return ids, dist


# -- range results: every result within a radius, a variable number per query ----------------
# (lims int64 nq+1, ids int64 total, distances float32 total); query q's results are at
# lims[q]:lims[q+1], nearest first (largest inner product first for ip / cosine).
#   .rbin     big-ann-benchmarks range layout: int32 nq, int32 total, int32 counts[nq],
#             int32 ids[total], float32 distances[total]
#   .npz      arrays "lims", "ids", "distances"
#   .parquet  rows (query, rank, id, distance), schema metadata vtool.results = range and
#             vtool.queries = nq (queries without results have no row)
RANGE_FORMATS = ("npz", "parquet", "rbin")


def range_format(path: str, override: str | None) -> str:
    return result_format(path, override, RANGE_FORMATS, "range results")


def write_range_results(path: str, lims: np.ndarray, ids: np.ndarray, dist: np.ndarray,
                        fmt: str | None = None) -> None:
    """Write range results atomically (or to stdout for '-')."""
    fmt = range_format(path, fmt)
    lims, ids, dist = np.asarray(lims, np.int64), np.asarray(ids, np.int64), np.asarray(dist, np.float32)
    buf = io.BytesIO()
    nq = len(lims) - 1
    if fmt == "npz":
        np.savez(buf, lims=lims, ids=ids, distances=dist)
    elif fmt == "rbin":
        if len(ids) >= 2**31 or ids.max(initial=-1) >= 2**31:
            raise VtoolError("range results do not fit the .rbin layout (int32 ids and counts); write .npz or .parquet")
        buf.write(np.array([nq, len(ids)], "<i4").tobytes())
        buf.write(np.diff(lims).astype("<i4").tobytes())
        buf.write(ids.astype("<i4").tobytes())
        buf.write(dist.astype("<f4").tobytes())
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        counts = np.diff(lims)
        query = np.repeat(np.arange(nq, dtype=np.int64), counts)
        table = pa.table({"query": pa.array(query),
                          "rank": pa.array((np.arange(len(ids)) - lims[:-1][query]).astype(np.int32)),
                          "id": pa.array(ids), "distance": pa.array(dist)})
        table = table.replace_schema_metadata({"vtool.results": "range", "vtool.queries": str(nq)})
        pq.write_table(table, buf, **WRITE_OPTIONS)
    _write_bytes(path, buf.getvalue())


def results_kind(path: str, fmt: str | None = None) -> str:
    """"range" or "knn": what a results (or ground-truth) file holds."""
    path = check_input_file(path)
    kind = fmt or Path(path).suffix.lower().lstrip(".")
    if kind == "rbin":
        return "range"
    if kind == "npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return "range" if "lims" in z.files else "knn"
        except (ValueError, OSError, EOFError):
            return "knn"  # the reader says what is wrong
    if kind == "parquet":
        from vtool.io.parquet import open_parquet

        meta = open_parquet(path).schema_arrow.metadata or {}
        return "range" if meta.get(b"vtool.results") == b"range" else "knn"
    return "knn"


def read_range_results(path: str, fmt: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lims, ids, distances) from a range results or range ground-truth file, checked."""
    path = check_input_file(path)
    kind = fmt or Path(path).suffix.lower().lstrip(".")
    try:
        if kind == "rbin":
            lims, ids, dist = _read_rbin(path)
        elif kind == "npz":
            with np.load(path, allow_pickle=False) as z:
                if "lims" not in z.files:
                    raise VtoolError(f"{path}: k-NN results, not range results (no 'lims' array)")
                lims, ids = z["lims"].astype(np.int64), z["ids"].astype(np.int64)
                dist = z["distances"].astype(np.float32)
        elif kind == "parquet":
            lims, ids, dist = _read_parquet_range(path)
        else:
            raise VtoolError(f"{path}: range results are read from .rbin, .npz or .parquet (or pass --format)")
    except (ValueError, OSError, EOFError) as e:
        raise VtoolError(f"{path}: unreadable or truncated ({str(e).splitlines()[0]})") from None
    if lims.ndim != 1 or len(lims) < 1 or lims[0] != 0 or (np.diff(lims) < 0).any() or lims[-1] != len(ids) \
            or ids.shape != dist.shape:
        raise VtoolError(f"{path}: inconsistent range results (offsets, ids and distances disagree)")
    return lims, ids, dist


def _read_rbin(path: str):
    size = os.path.getsize(path)
    if size < 8:
        raise VtoolError(f"{path}: truncated (smaller than the 8-byte header)")
    nq, total = (int(v) for v in np.fromfile(path, dtype="<i4", count=2))
    if nq < 0 or total < 0 or size != 8 + 4 * nq + 8 * total:
        raise VtoolError(f"{path}: header says {nq} queries and {total} results ({8 + 4 * nq + 8 * total} bytes), "
                         f"file has {size}: not the big-ann range layout")
    counts = np.fromfile(path, dtype="<i4", count=nq, offset=8).astype(np.int64)
    if (counts < 0).any() or counts.sum() != total:
        raise VtoolError(f"{path}: result counts do not add up to the header's total {total}")
    lims = np.zeros(nq + 1, np.int64)
    np.cumsum(counts, out=lims[1:])
    ids = np.fromfile(path, dtype="<i4", count=total, offset=8 + 4 * nq).astype(np.int64)
    dist = np.fromfile(path, dtype="<f4", count=total, offset=8 + 4 * nq + 4 * total)
    return lims, ids, dist


def _read_parquet_range(path: str):
    t = read_table(path)
    meta = t.schema.metadata or {}
    if meta.get(b"vtool.results") != b"range":
        raise VtoolError(f"{path}: k-NN results, not range results (no vtool.results = range metadata)")
    nq = int(meta.get(b"vtool.queries", b"0"))
    q = t["query"].to_numpy().astype(np.int64)
    r = t["rank"].to_numpy().astype(np.int64)
    if len(q) and (q.min() < 0 or q.max() >= nq):
        raise VtoolError(f"{path}: a query number outside 0..{nq - 1}")
    order = np.lexsort((r, q))
    lims = np.zeros(nq + 1, np.int64)
    np.cumsum(np.bincount(q, minlength=nq), out=lims[1:])
    return lims, t["id"].to_numpy().astype(np.int64)[order], t["distance"].to_numpy().astype(np.float32)[order]
