"""Vectors to codes and back without building lists: the library behind `vtool encode`
and `vtool decode`. Encoding jobs can run in parallel (one per input shard); `vtool add`
then only packs their code files."""

from __future__ import annotations

import time

import numpy as np

from vtool.errors import VtoolError
from vtool.commands.build import check_codes_match, code_lists
from vtool.index.index import load_index
from vtool.io.atomic import check_output_path
from vtool.io.codes import CodesWriter, open_codes
from vtool.io.vectors import detect_format, open_vectors
from vtool.io.write_vectors import write_vectors


def encode(model_path: str, vectors_path: str, output: str, id_column: str | None = None,
           first_id: int = 0, batch_size: int = 65536, fmt: str | None = None, column: str | None = None,
           verify: bool = True) -> dict:
    """Write (id, list, code) for every input vector; ids from id_column or first_id + row."""
    check_output_path(output)
    model = load_index(model_path, verify=verify)
    _check_trained(model, model_path)
    vf = open_vectors(vectors_path, fmt, column, id_column, normalize=model.cosine)
    if vf.d != model.d:
        raise VtoolError(f"{vectors_path}: vectors have dimension {vf.d}, the model expects {model.d}")
    if first_id < 0:
        raise VtoolError("--first-id must be >= 0")
    t0 = time.perf_counter()
    writer = CodesWriter(output, vf.n, model.encoding.code_size, model.header["model_fingerprint"], str(model.spec))
    with writer.open() as write:
        for start, batch, ids in vf.batches(batch_size):
            lists, codes = model.encode(batch)
            if ids is None:
                ids = np.arange(first_id + start, first_id + start + len(batch), dtype=np.int64)
            elif len(ids) and ids.min() < 0:
                raise VtoolError(f"{vectors_path}: negative id {int(ids.min())} in column {id_column!r}")
            write(ids, lists if model.structure.has_centroids else np.full(len(batch), -1), codes)
    seconds = time.perf_counter() - t0
    return {"vectors": vf.n, "code_size": model.encoding.code_size, "spec": str(model.spec), "seconds": seconds,
            "vectors_per_second": vf.n / seconds if seconds > 0 else None}


def decode(model_path: str, codes_path: str, output: str, batch_size: int = 65536, verify: bool = True,
           out_format: str | None = None) -> dict:
    """Write the reconstruction of every code, in file order, in any vector format vtool reads
    (bytes stay bytes for the direct encodings: a .u8bin decodes to a .u8bin)."""
    check_output_path(output)
    fmt = detect_format(output, out_format)
    model = load_index(model_path, verify=verify)
    _check_trained(model, model_path)
    cf = open_codes(codes_path)
    check_codes_match(model, cf, codes_path)
    dtype = model.encoding.decoded_dtype if model.transform is None else np.dtype(np.float32)
    t0 = time.perf_counter()

    def rows():
        start = 0
        for _, lists, codes in cf.batches(batch_size):
            yield start, model.decode(code_lists(model, lists, codes_path), codes).astype(dtype, copy=False)
            start += len(codes)

    write_vectors(output, fmt, cf.n, model.d, dtype, rows())
    return {"vectors": cf.n, "d": model.d, "format": fmt, "dtype": dtype.name, "seconds": time.perf_counter() - t0}


def _check_trained(model, path: str) -> None:
    if not model.is_trained:
        raise VtoolError(f"{path}: the model has no trained codebooks (run vtool train)")
