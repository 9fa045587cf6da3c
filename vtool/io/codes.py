"""Code files written by `vtool encode` and read by `vtool add` and `vtool decode`.

Each row is one vector: its id (int64), its list (int32; -1 without IVF) and its code
(code_size bytes).
  .npy      structured array, fields ("id", "<i8"), ("list", "<i4"), ("code_<fingerprint>", "u1", (code_size,));
            the model fingerprint in the field name ties the codes to the model that made them
  .parquet  columns id (int64), list (int32), code (fixed_size_binary[code_size]);
            schema metadata vtool.model_fingerprint and vtool.spec
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vtool.errors import VtoolError
from vtool.io.inputs import check_input_file
from vtool.io.atomic import atomic_path, open_memmap
from vtool.io.parquet import WRITE_OPTIONS, open_parquet, read_batches

CODE_FIELD = "code_"


def codes_dtype(code_size: int, fingerprint: str) -> np.dtype:
    return np.dtype([("id", "<i8"), ("list", "<i4"), (CODE_FIELD + fingerprint, "u1", (code_size,))])


def is_codes_file(path: str) -> bool:
    """Whether a .npy/.parquet file holds codes (as opposed to vectors)."""
    path = check_input_file(path)
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if not isinstance(arr, np.ndarray):  # an .npz renamed .npy: the vector reader says so
                arr.close()
                return False
            return arr.dtype.names is not None and any(n.startswith(CODE_FIELD) for n in arr.dtype.names)
        if suffix == ".parquet":
            meta = open_parquet(path).schema_arrow.metadata or {}
            return b"vtool.model_fingerprint" in meta
    except (ValueError, OSError, EOFError):
        return False
    return False


@dataclass
class CodesFile:
    path: str
    n: int
    code_size: int
    fingerprint: str
    _rows: object = None
    _parquet: object = None

    def batches(self, batch_size: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield (ids int64, lists int64, codes uint8 (b, code_size))."""
        if self._rows is not None:
            name = CODE_FIELD + self.fingerprint
            for a in range(0, self.n, batch_size):
                chunk = np.asarray(self._rows[a:a + batch_size])
                yield chunk["id"].astype(np.int64), chunk["list"].astype(np.int64), np.ascontiguousarray(chunk[name])
            return
        for rb in read_batches(self._parquet, self.path, batch_size=batch_size, columns=["id", "list", "code"]):
            codes = rb.column(2)
            if codes.null_count or rb.column(0).null_count or rb.column(1).null_count:
                raise VtoolError(f"{self.path}: null values in a code file")
            raw = np.frombuffer(codes.buffers()[1], dtype=np.uint8, count=len(codes) * self.code_size,
                                offset=codes.offset * self.code_size)
            yield (rb.column(0).to_numpy().astype(np.int64), rb.column(1).to_numpy().astype(np.int64),
                   raw.reshape(len(codes), self.code_size).copy())


def open_codes(path: str) -> CodesFile:
    path = check_input_file(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise VtoolError(f"{path}: not a readable code file ({str(e).splitlines()[0] if str(e) else e})") from None
        names = arr.dtype.names or ()
        fields = [n for n in names if n.startswith(CODE_FIELD)]
        if arr.ndim != 1 or "id" not in names or "list" not in names or len(fields) != 1:
            raise VtoolError(f"{path}: not a code file written by vtool encode")
        shape = arr.dtype[fields[0]].shape
        return CodesFile(path, len(arr), int(shape[0]) if shape else 1, fields[0][len(CODE_FIELD):], _rows=arr)
    if suffix == ".parquet":
        import pyarrow as pa

        pf = open_parquet(path)
        meta = pf.schema_arrow.metadata or {}
        schema = pf.schema_arrow
        if b"vtool.model_fingerprint" not in meta or "code" not in schema.names:
            raise VtoolError(f"{path}: not a code file written by vtool encode")
        if not pa.types.is_fixed_size_binary(schema.field("code").type):
            raise VtoolError(f"{path}: column 'code' is not fixed-size binary")
        return CodesFile(path, pf.metadata.num_rows, schema.field("code").type.byte_width,
                         meta[b"vtool.model_fingerprint"].decode(), _parquet=pf)
    raise VtoolError(f"{path}: code files are .npy or .parquet")


class CodesWriter:
    """Streams (ids, lists, codes) batches into a code file, atomically."""

    def __init__(self, path: str, n: int, code_size: int, fingerprint: str, spec: str):
        self.path, self.n, self.code_size, self.fingerprint, self.spec = path, n, code_size, fingerprint, spec
        suffix = Path(path).suffix.lower()
        if suffix not in (".npy", ".parquet"):
            raise VtoolError(f"{path}: codes are written as .npy or .parquet")
        self.suffix = suffix

    @contextlib.contextmanager
    def open(self):
        with atomic_path(self.path) as tmp:
            if self.suffix == ".npy":
                out = open_memmap(tmp, dtype=codes_dtype(self.code_size, self.fingerprint),
                                                shape=(self.n,))
                row = [0]
                name = CODE_FIELD + self.fingerprint

                def write(ids, lists, codes):
                    a = row[0]
                    out["id"][a:a + len(ids)] = ids
                    out["list"][a:a + len(ids)] = lists
                    out[name][a:a + len(ids)] = codes
                    row[0] += len(ids)

                yield write
                out.flush()
                del out
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                schema = pa.schema([("id", pa.int64()), ("list", pa.int32()), ("code", pa.binary(self.code_size))],
                                   metadata={"vtool.model_fingerprint": self.fingerprint, "vtool.spec": self.spec})
                with pq.ParquetWriter(tmp, schema, **WRITE_OPTIONS) as writer:
                    def write(ids, lists, codes):
                        col = pa.FixedSizeBinaryArray.from_buffers(pa.binary(self.code_size), len(codes),
                                                                   [None, pa.py_buffer(np.ascontiguousarray(codes).tobytes())])
                        writer.write_table(pa.table({"id": pa.array(ids, pa.int64()),
                                                     "list": pa.array(lists.astype(np.int32)), "code": col},
                                                    schema=schema))

                    yield write
