"""Vector files from one format to another: the library behind `vtool convert`."""

from __future__ import annotations

import time

from vtool.errors import VtoolError
from vtool.io.atomic import check_output_path
from vtool.io.vectors import detect_format, open_vectors
from vtool.io.write_vectors import write_vectors


def convert(input_path: str, output: str, fmt: str | None = None, out_format: str | None = None,
            column: str | None = None, out_column: str | None = None, batch_size: int = 65536) -> dict:
    """Stream every row of input_path into output, values and dtype kept where the output
    format can hold them (refused otherwise)."""
    if output == "-":
        raise VtoolError("convert writes a file (vector files are memory-mapped and rewritten in place)")
    check_output_path(output)
    out_fmt = detect_format(output, out_format)
    vf = open_vectors(input_path, fmt, column)
    t0 = time.perf_counter()
    write_vectors(output, out_fmt, vf.n, vf.d, vf.dtype, vf.raw_batches(batch_size), out_column)
    return {"input": input_path, "format": vf.format, "output": output, "out_format": out_fmt, "rows": vf.n,
            "dim": vf.d, "dtype": str(vf.dtype), "seconds": time.perf_counter() - t0}
