"""Vector files out, in every format vtool reads (`vtool convert`), streamed and atomic.

The values keep their dtype where the format allows it (npy, parquet, hdf5 take any accepted
dtype); fvecs/fbin hold float32, bvecs/u8bin uint8, i8bin int8, ivecs/ibin int32: a conversion
that would change the values (float to uint8, say) is refused rather than rounded.
"""

from __future__ import annotations

import numpy as np

from vtool.errors import VtoolError
from vtool.io.atomic import atomic_path, open_memmap, reserve
from vtool.io.vectors import BIN_DTYPES, VECS_DTYPES

FIXED_DTYPES = {**{k: np.dtype(v) for k, v in VECS_DTYPES.items()}, **{k: np.dtype(v) for k, v in BIN_DTYPES.items()}}


def output_dtype(fmt: str, dtype: np.dtype, path: str) -> np.dtype:
    """The dtype a format stores the values in; refused when it would change them."""
    dtype = np.dtype(dtype).newbyteorder("=")
    if fmt not in FIXED_DTYPES:
        return dtype
    want = FIXED_DTYPES[fmt]
    if dtype == want or (want == np.float32 and (dtype == np.float16 or (dtype.kind in "iu" and dtype.itemsize <= 2))) \
            or (want == np.int32 and dtype.kind in "iu" and dtype.itemsize < 4):
        return want  # exact widening
    raise VtoolError(f"{path}: .{fmt} holds {want.name}; the input is {dtype.name} (convert to .npy, .parquet or "
                     f".hdf5 to keep it, or to a {dtype.name} format)")


def write_vectors(path: str, fmt: str, n: int, d: int, dtype: np.dtype, batches, column: str | None = None) -> None:
    """Write n x d rows given as (start, batch) pairs into path in format fmt, atomically;
    column names the parquet column (default emb) or HDF5 dataset (default train)."""
    dtype = output_dtype(fmt, dtype, path)
    column = column or ("train" if fmt == "hdf5" else "emb")
    with atomic_path(path) as tmp:
        if fmt == "npy":
            out = open_memmap(tmp, dtype=dtype, shape=(n, d))
            for start, batch in batches:
                out[start:start + len(batch)] = batch
            out.flush()
        elif fmt in BIN_DTYPES:
            size = 8 + n * d * dtype.itemsize
            with open(tmp, "wb") as f:
                f.write(np.array([n, d], dtype="<u4").tobytes())
                f.truncate(size)
            reserve(tmp, size)
            out = np.memmap(tmp, dtype=dtype.newbyteorder("<"), mode="r+", offset=8, shape=(n, d)) if n * d else None
            for start, batch in batches:
                out[start:start + len(batch)] = batch
            if out is not None:
                out.flush()
        elif fmt in VECS_DTYPES:
            row = np.dtype([("d", "<i4"), ("v", dtype.newbyteorder("<"), (d,))])
            with open(tmp, "wb") as f:
                for _, batch in batches:
                    rows = np.empty(len(batch), row)
                    rows["d"], rows["v"] = d, batch
                    f.write(rows.tobytes())
        elif fmt == "parquet":
            _write_parquet(tmp, d, dtype, batches, column)
        elif fmt == "hdf5":
            from vtool.io import hdf5

            with hdf5.h5py().File(tmp, "w") as f:
                data = f.create_dataset(column, shape=(n, d), dtype=dtype)
                for start, batch in batches:
                    data[start:start + len(batch)] = batch
        else:
            raise VtoolError(f"{path}: cannot write vectors as {fmt!r}")


def _write_parquet(tmp, d: int, dtype: np.dtype, batches, column: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vtool.io.parquet import WRITE_OPTIONS

    value = pa.from_numpy_dtype(dtype)
    schema = pa.schema([(column, pa.list_(value, d))])
    with pq.ParquetWriter(tmp, schema, **WRITE_OPTIONS) as writer:
        for _, batch in batches:
            flat = pa.array(np.ascontiguousarray(batch, dtype).reshape(-1), type=value)
            writer.write_table(pa.table({column: pa.FixedSizeListArray.from_arrays(flat, d)}, schema=schema))
