"""Vector files in: .npy, .parquet, .fvecs/.bvecs/.ivecs, .fbin/.u8bin/.i8bin/.ibin, .hdf5/.h5
(ann-benchmarks; vtool/io/hdf5.py).

Every reader knows its shape up front and streams float32 batches, so inputs larger
than RAM pass through. Each batch is checked (dimension, NaN/Inf) before use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from vtool import _native, memory
from vtool.errors import VtoolError
from vtool.io import remote
from vtool.io.inputs import check_input_file, is_copy
from vtool.io.parquet import open_parquet, read_batches

# A vector's squared norm at most a quarter of the largest float32: then every squared
# distance (<= (|x| + |y|)^2) and inner product between two vectors stays finite.
MAX_SQUARED_NORM = float(np.finfo(np.float32).max) / 4

# Element types accepted as vector components; everything is computed in float32.
FAULT_AROUND = 64 << 10  # bytes a page fault on a file map may bring in around the page asked for
ACCEPTED_DTYPES = {np.dtype(t) for t in ("float32", "float64", "float16", "uint8", "int8", "int32")}

FORMATS_BY_SUFFIX = {
    ".npy": "npy",
    ".parquet": "parquet",
    ".fvecs": "fvecs",
    ".bvecs": "bvecs",
    ".ivecs": "ivecs",
    ".fbin": "fbin",
    ".u8bin": "u8bin",
    ".i8bin": "i8bin",
    ".ibin": "ibin",
    ".hdf5": "hdf5",
    ".h5": "hdf5",
}
VECS_DTYPES = {"fvecs": np.float32, "bvecs": np.uint8, "ivecs": np.int32}
BIN_DTYPES = {"fbin": np.float32, "u8bin": np.uint8, "i8bin": np.int8, "ibin": np.int32}


def detect_format(path: str | os.PathLike, override: str | None = None) -> str:
    if override:
        if override not in FORMATS_BY_SUFFIX.values():
            raise VtoolError(f"unknown format {override!r}; choose one of {', '.join(sorted(set(FORMATS_BY_SUFFIX.values())))}")
        return override
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS_BY_SUFFIX:
        if is_copy(str(path)):
            raise VtoolError(f"{path}: cannot tell the format of a stream; pass --format")
        raise VtoolError(f"{path}: cannot tell the format from the extension {suffix!r}; pass --format")
    return FORMATS_BY_SUFFIX[suffix]


@dataclass
class VectorFile:
    """An open vector file: shape known, data read batch by batch."""

    path: str
    format: str
    n: int
    d: int
    dtype: np.dtype
    _rows: object = field(repr=False, default=None)  # memmap-like (n, d) view, or None for parquet
    _parquet: object = field(repr=False, default=None)
    column: str | None = None
    id_column: str | None = None
    normalize: bool = False  # rows scaled to unit length (an index with metric cosine)
    window: tuple[int, int] | None = None  # batches() reads only rows [a, b) (a shard of the file)

    def shard(self, spec: str) -> VectorFile:
        """The I-th of N equal parts of the rows ("I/N", I from 0): batches() then reads rows
        [n I / N, n (I+1) / N) and numbers them as in the whole file; n is the part's size."""
        try:
            i, parts = (int(v) for v in spec.split("/"))
        except ValueError:
            raise VtoolError(f"--shard takes I/N (the I-th of N parts, I from 0), got {spec!r}") from None
        if parts < 1 or not 0 <= i < parts:
            raise VtoolError(f"--shard {spec}: I must be from 0 to N-1")
        return self.rows_between(self.n * i // parts, self.n * (i + 1) // parts)

    def rows_between(self, a: int, b: int) -> VectorFile:
        """Rows [a, b) of the file (of its window), numbered as in the whole file."""
        first = self.window[0] if self.window else 0
        return replace(self, n=b - a, window=(first + a, first + b))

    def batches(self, batch_size: int = 65536) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """Yield (first row number, float32 batch, int64 ids or None), checked; row numbers are
        the file's (a shard's first batch does not start at 0)."""
        if batch_size <= 0:
            raise VtoolError("--batch-size must be positive")
        a, b = self.window or (0, self.n)
        if self._parquet is not None:
            for start, batch, ids in self._parquet_batches(batch_size):
                lo, hi = max(a, start), min(b, start + len(batch))
                if lo < hi:
                    yield lo, batch[lo - start:hi - start], None if ids is None else ids[lo - start:hi - start]
            return
        for start in range(a, b, batch_size):
            raw = self._rows[start:min(b, start + batch_size)]
            yield start, self._checked(np.asarray(raw), start), None
            memory.release(getattr(self._rows, "raw", self._rows))  # under --memory-budget: out of RSS

    def raw_batches(self, batch_size: int = 65536) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (first row number, batch in the file's own dtype): for conversions that keep
        the values bit for bit (no float32 copy, no checks beyond the layout's)."""
        if batch_size <= 0:
            raise VtoolError("--batch-size must be positive")
        if self._parquet is not None:
            start = 0
            for rb in read_batches(self._parquet, self.path, batch_size=batch_size, columns=[self.column]):
                batch = _list_column_to_array(rb.column(0), self.path, self.column, self.d, start)
                yield start, batch
                start += len(batch)
            return
        for start in range(0, self.n, batch_size):
            yield start, np.asarray(self._rows[start:start + batch_size])

    def read_all(self) -> np.ndarray:
        """The whole file as one float32 array (for queries and training samples)."""
        parts = [b for _, b, _ in self.batches(max(self.n, 1))]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    @property
    def has_random_access(self) -> bool:
        return self._rows is not None

    def random_access(self):
        """An (n, d) view indexable by row numbers (raw dtype), for re-ranking by id."""
        if self._rows is None:
            raise VtoolError(f"{self.path}: needs a format with random access (.npy, .fbin, .fvecs, ...)")
        return self._rows

    def read_rows(self, rows: np.ndarray, batch_size: int = 65536) -> np.ndarray:
        """Rows at the given sorted positions (a random training sample), streamed."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._rows is not None:
            # a scattered row maps up to 64 KB around it (the kernel's fault-around): under a
            # memory budget, the map's pages are released every few thousand rows
            step = memory.rows(FAULT_AROUND, batch_size)
            parts = []
            for a in range(0, max(len(rows), 1), step):
                parts.append(self._checked(np.asarray(self._rows[rows[a:a + step]]), 0, rows[a:a + step]))
                memory.release(getattr(self._rows, "raw", self._rows))
            return parts[0] if len(parts) == 1 else np.concatenate(parts)
        out = np.empty((len(rows), self.d), dtype=np.float32)
        filled = 0
        for start, batch, _ in self.batches(batch_size):
            lo, hi = np.searchsorted(rows, [start, start + len(batch)])
            out[filled:filled + hi - lo] = batch[rows[lo:hi] - start]
            filled += hi - lo
        return out

    def _checked(self, raw: np.ndarray, start: int, rows: np.ndarray | None = None) -> np.ndarray:
        with np.errstate(over="ignore"):  # float64 beyond float32 range becomes inf, caught below
            batch = np.ascontiguousarray(raw, dtype=np.float32)
        row_of = (lambda i: int(rows[i])) if rows is not None else (lambda i: start + i)
        if raw.dtype.kind == "f":
            check_values(batch, self.path, row_of)
        return unit_rows(batch, self.path, row_of) if self.normalize else batch

    def _parquet_batches(self, batch_size: int):
        cols = [self.column] + ([self.id_column] if self.id_column else [])
        start = 0
        for rb in read_batches(self._parquet, self.path, batch_size=batch_size, columns=cols):
            batch = _list_column_to_array(rb.column(0), self.path, self.column, self.d, start)
            ids = None
            if self.id_column:
                ids = _id_column_to_array(rb.column(1), self.path, self.id_column)
            yield start, self._checked(batch, start), ids
            start += len(batch)


def check_values(batch: np.ndarray, source: str, row_of=lambda i: i) -> None:
    """Refuse a float32 batch holding NaN or Inf, or a row whose squared norm could make
    distances overflow; the message names the row (row_of maps batch positions to rows)."""
    # one native pass: a NaN or Inf component makes its row's float64 squared norm NaN or Inf,
    # and no float32 row overflows float64 (35k x 384: 1.7 ms, where isfinite then a float64
    # einsum took 11.9)
    norms = _native.norms_sqr_f64(batch)
    finite = np.isfinite(norms)
    if not finite.all():
        raise VtoolError(f"{source}: row {row_of(int(np.argmin(finite)))} contains NaN or Inf")
    if norms.max(initial=0.0) > MAX_SQUARED_NORM:
        bad = int(np.argmax(norms > MAX_SQUARED_NORM))
        raise VtoolError(f"{source}: row {row_of(bad)} is too large (squared norm {norms[bad]:.3g}; distances "
                         f"would overflow float32 above {MAX_SQUARED_NORM:.3g}): scale the vectors down")


def unit_rows(x: np.ndarray, source: str = "vectors", row_of=lambda i: i) -> np.ndarray:
    """Rows scaled to unit length (metric cosine: inner products of unit vectors); a row of
    norm 0 is refused, named."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    if len(norms) and norms.min() == 0:
        raise VtoolError(f"{source}: row {row_of(int(np.argmin(norms)))} has norm 0 (metric cosine needs "
                         "non-zero vectors)")
    return np.ascontiguousarray(x / norms[:, None], dtype=np.float32)


def open_vectors(path: str | os.PathLike, format: str | None = None, column: str | None = None,
                 id_column: str | None = None, normalize: bool = False, queries: bool = False) -> VectorFile:
    """Open a vector file for streaming (rows scaled to unit length with normalize); raises
    VtoolError naming what is wrong. An HDF5 file gives its `train` dataset, or `test` for
    queries, unless column names another."""
    path = check_input_file(path, ranged=True)
    fmt = detect_format(path, format)
    if id_column and fmt != "parquet":
        raise VtoolError(f"{path}: --id-column needs a parquet input")
    if remote.is_url(path) and fmt not in ("parquet", "hdf5"):
        vf = _open_remote_rows(path, fmt)
    elif fmt == "npy":
        vf = _open_npy(path)
    elif fmt == "parquet":
        vf = _open_parquet(path, column, id_column)
    elif fmt in VECS_DTYPES:
        vf = _open_vecs(path, fmt)
    elif fmt == "hdf5":
        from vtool.io import hdf5

        data = hdf5.dataset(path, column or (hdf5.QUERIES if queries else hdf5.BASE))
        vf = VectorFile(path, "hdf5", data.shape[0], data.shape[1], _check_dtype(path, data.dtype),
                        _rows=_Sorted(data), column=data.name.lstrip("/"))
    else:
        vf = _open_bin(path, fmt)
    if vf.n == 0:
        raise VtoolError(f"{path}: the file holds no vectors")
    if vf.d == 0:
        raise VtoolError(f"{path}: the vectors have dimension 0")
    vf.normalize = normalize
    return vf


def _open_remote_rows(url: str, fmt: str) -> VectorFile:
    """A remote npy / bin / vecs file, its rows read in ranges (the same checks as on disk)."""
    f = remote.open_url(url)
    size = remote.size_of(f)
    if size == 0:
        raise VtoolError(f"{url}: the file is empty")
    if fmt == "npy":
        shape, dtype, fortran, offset = remote.npy_header(f, url)
        _check_dtype(url, dtype)
        if len(shape) != 2:
            raise VtoolError(f"{url}: expected a 2-d array (n, d), found shape {shape}")
        if fortran and shape[0] > 1 and shape[1] > 1:
            raise VtoolError(f"{url}: a Fortran-ordered .npy has no contiguous rows; convert it to C order")
        n, d = shape
        if size < offset + n * d * dtype.itemsize:
            raise VtoolError(f"{url}: truncated: the header says {n} x {d} {dtype.name}")
        return VectorFile(url, fmt, n, d, dtype, _rows=remote.RangeRows(f, url, offset, n, d, dtype))
    if fmt in BIN_DTYPES:
        dtype = np.dtype(BIN_DTYPES[fmt]).newbyteorder("<")
        if size < 8:
            raise VtoolError(f"{url}: truncated (smaller than the 8-byte header)")
        n, d = (int(v) for v in np.frombuffer(remote.read_at(f, 0, 8, url), "<u4"))
        _check_bin_size(url, size, n, d, dtype)
        return VectorFile(url, fmt, n, d, dtype, _rows=remote.RangeRows(f, url, 8, n, d, dtype))
    dtype = np.dtype(VECS_DTYPES[fmt])
    d = _vecs_dim(url, size, int(np.frombuffer(remote.read_at(f, 0, 4, url), "<i4")[0]) if size >= 4 else 0, dtype)
    row_bytes = 4 + d * dtype.itemsize
    raw = remote.RangeRows(f, url, 0, size // row_bytes, row_bytes, np.uint8)
    return VectorFile(url, fmt, size // row_bytes, d, dtype, _rows=_VecsRows(raw, d, dtype, url))


def _check_dtype(path: str, dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.newbyteorder("=") not in ACCEPTED_DTYPES and dtype not in ACCEPTED_DTYPES:
        raise VtoolError(f"{path}: vectors of dtype {dtype} are not supported "
                         "(use float32, float64, float16, uint8, int8 or int32)")
    return dtype


def _open_npy(path: str) -> VectorFile:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, EOFError) as e:
        msg = str(e) or type(e).__name__
        if "pickle" in msg or "object" in msg:
            raise VtoolError(f"{path}: vectors of dtype object are not supported") from None
        raise VtoolError(f"{path}: not a valid .npy file or truncated ({msg.splitlines()[0]})") from None
    except OSError as e:
        raise VtoolError(f"{path}: cannot read as .npy ({e})") from None
    if not isinstance(arr, np.ndarray):
        raise VtoolError(f"{path}: expected a single array, found an archive")
    _check_dtype(path, arr.dtype)
    if arr.ndim != 2:
        raise VtoolError(f"{path}: expected a 2-d array (n, d), found shape {arr.shape}")
    return VectorFile(path, "npy", arr.shape[0], arr.shape[1], arr.dtype, _rows=arr)


def _open_vecs(path: str, fmt: str) -> VectorFile:
    dtype = np.dtype(VECS_DTYPES[fmt])
    size = os.path.getsize(path)
    if size == 0:
        raise VtoolError(f"{path}: the file is empty")
    d = _vecs_dim(path, size, int(np.fromfile(path, dtype="<i4", count=1)[0]) if size >= 4 else 0, dtype)
    row_bytes = 4 + d * dtype.itemsize
    n = size // row_bytes
    raw = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, row_bytes))
    return VectorFile(path, fmt, n, d, dtype, _rows=_VecsRows(raw, d, dtype, path))


def _vecs_dim(path: str, size: int, d: int, dtype: np.dtype) -> int:
    """The dimension of an fvecs-style file from its first row header, checked against its size."""
    if size < 4:
        raise VtoolError(f"{path}: truncated (smaller than one row header)")
    if d <= 0 or d > 1 << 20:
        raise VtoolError(f"{path}: invalid dimension {d} in the first row header")
    row_bytes = 4 + d * dtype.itemsize
    if size % row_bytes:
        raise VtoolError(f"{path}: truncated or corrupt: {size} bytes is not a whole number of "
                         f"{row_bytes}-byte rows of dimension {d}")
    return d


class _VecsRows:
    """Row access into an fvecs-style file, checking each row's dimension header."""

    def __init__(self, raw: np.ndarray, d: int, dtype: np.dtype, path: str):
        self.raw, self.d, self.dtype, self.path = raw, d, dtype, path

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index) -> np.ndarray:
        """Rows by a slice or an integer array of any shape (vectors in the last axis)."""
        shape = None if isinstance(index, slice) else np.shape(index)
        block = np.asarray(self.raw[index if shape is None else np.ravel(index)]).reshape(-1, self.raw.shape[1])
        dims = block[:, :4].copy().view("<i4").ravel()
        if (dims != self.d).any():
            raise VtoolError(f"{self.path}: corrupt file: a row header says dimension "
                             f"{int(dims[dims != self.d][0])}, expected {self.d}")
        rows = block[:, 4:].copy().view(self.dtype.newbyteorder("<"))
        return rows if shape is None else rows.reshape(*shape, self.d)


def _open_bin(path: str, fmt: str) -> VectorFile:
    dtype = np.dtype(BIN_DTYPES[fmt]).newbyteorder("<")
    size = os.path.getsize(path)
    if size == 0:
        raise VtoolError(f"{path}: the file is empty")
    if size < 8:
        raise VtoolError(f"{path}: truncated (smaller than the 8-byte header)")
    n, d = (int(v) for v in np.fromfile(path, dtype="<u4", count=2))
    _check_bin_size(path, size, n, d, dtype)
    rows = np.memmap(path, dtype=dtype, mode="r", offset=8, shape=(n, d)) if n * d else np.zeros((n, d), dtype)
    return VectorFile(path, fmt, n, d, dtype, _rows=rows)


def _check_bin_size(path: str, size: int, n: int, d: int, dtype: np.dtype) -> None:
    expected = 8 + n * d * dtype.itemsize
    if size != expected:
        what = "truncated" if size < expected else "has trailing bytes"
        raise VtoolError(f"{path}: {what}: header says {n} x {d} {dtype.name} ({expected} bytes), "
                         f"file has {size} bytes")


def _open_parquet(path: str, column: str | None, id_column: str | None) -> VectorFile:
    import pyarrow as pa

    pf = open_parquet(path)
    schema = pf.schema_arrow
    list_cols = [f.name for f in schema if pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type)
                 or pa.types.is_large_list(f.type)]
    if column is None:
        if len(list_cols) != 1:
            raise VtoolError(f"{path}: {'no' if not list_cols else 'several'} list columns "
                             f"({', '.join(list_cols) or 'none'}); choose one with --column")
        column = list_cols[0]
    if column not in schema.names:
        raise VtoolError(f"{path}: no column {column!r} (columns: {', '.join(schema.names)})")
    ftype = schema.field(column).type
    if column not in list_cols:
        raise VtoolError(f"{path}: column {column!r} is {ftype}, not a list of numbers")
    value_type = ftype.value_type
    if not (pa.types.is_floating(value_type) or pa.types.is_integer(value_type)):
        raise VtoolError(f"{path}: column {column!r} is a list of {value_type}, not of numbers")
    dtype = _check_dtype(path, value_type.to_pandas_dtype())
    if id_column is not None:
        if id_column not in schema.names:
            raise VtoolError(f"{path}: no id column {id_column!r} (columns: {', '.join(schema.names)})")
        if not pa.types.is_integer(schema.field(id_column).type):
            raise VtoolError(f"{path}: id column {id_column!r} is {schema.field(id_column).type}, not integers")
    n = pf.metadata.num_rows
    d = 0
    if pa.types.is_fixed_size_list(ftype):
        d = ftype.list_size
    elif n:
        first = next(read_batches(pf, path, batch_size=1, columns=[column])).column(0)
        if first.null_count:
            raise VtoolError(f"{path}: column {column!r} has a null vector at row 0")
        d = len(first[0])
    return VectorFile(path, "parquet", n, d, dtype, _parquet=pf, column=column, id_column=id_column)


def _list_column_to_array(col, path: str, name: str, d: int, start: int) -> np.ndarray:
    import pyarrow as pa

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if col.null_count:
        bad = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise VtoolError(f"{path}: column {name!r} has a null vector at row {start + bad}")
    if pa.types.is_fixed_size_list(col.type):
        values = col.flatten()
    else:
        offsets = col.offsets.to_numpy()
        lengths = np.diff(offsets)
        if (lengths != d).any():
            bad = int(np.flatnonzero(lengths != d)[0])
            raise VtoolError(f"{path}: column {name!r} is ragged: row {start + bad} has "
                             f"{int(lengths[bad])} values, expected {d}")
        values = col.flatten()
    if values.null_count:
        raise VtoolError(f"{path}: column {name!r} has null values inside vectors")
    return values.to_numpy(zero_copy_only=False).reshape(len(col), d)


def _id_column_to_array(col, path: str, name: str) -> np.ndarray:
    if col.null_count:
        raise VtoolError(f"{path}: id column {name!r} has null ids")
    return col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


class _Sorted:
    """Rows of an h5py dataset by slice or by index array (h5py reads increasing unique indices
    only: others are read sorted and put back in order)."""

    def __init__(self, data):
        self.data = data
        self.shape, self.dtype = data.shape, data.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.data[index]
        index = np.asarray(index, dtype=np.int64)
        unique, back = np.unique(index.ravel(), return_inverse=True)
        rows = self.data[unique] if len(unique) else np.zeros((0, self.shape[1]), self.dtype)
        return rows[back].reshape(*index.shape, self.shape[1])
