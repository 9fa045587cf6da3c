"""Writers for every vector format, used by the tests to make inputs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_vecs(path, x: np.ndarray) -> None:
    n, d = x.shape
    rows = np.empty((n, 4 + d * x.dtype.itemsize), dtype=np.uint8)
    rows[:, :4] = np.frombuffer(np.int32(d).tobytes(), dtype=np.uint8)
    rows[:, 4:] = np.ascontiguousarray(x).view(np.uint8).reshape(n, -1)
    rows.tofile(path)


def write_bin(path, x: np.ndarray) -> None:
    with open(path, "wb") as f:
        f.write(np.array(x.shape, dtype="<u4").tobytes())
        f.write(np.ascontiguousarray(x).tobytes())


def write_parquet(path, x: np.ndarray, ids=None, fixed=False, column="emb") -> None:
    n, d = x.shape
    values = pa.array(x.reshape(-1))
    col = (pa.FixedSizeListArray.from_arrays(values, d) if fixed
           else pa.ListArray.from_arrays(pa.array(np.arange(0, n * d + 1, d, dtype=np.int32)), values))
    data = {column: col}
    if ids is not None:
        data["id"] = pa.array(np.asarray(ids, dtype=np.int64))
    pq.write_table(pa.table(data), path, row_group_size=max(1, n // 3))


def write_any(path, x: np.ndarray) -> None:
    suffix = str(path).rsplit(".", 1)[-1]
    if suffix == "npy":
        np.save(path, x)
    elif suffix in ("fvecs", "bvecs", "ivecs"):
        write_vecs(path, x)
    elif suffix == "parquet":
        write_parquet(path, x)
    else:
        write_bin(path, x)
