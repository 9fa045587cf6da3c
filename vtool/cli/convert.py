"""vtool convert: vector files between every format vtool reads, streamed."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vtool.cli import common
from vtool.commands import convert as convert_lib


def convert(
    vectors: Annotated[str, typer.Argument(help="Vectors in any format vtool reads (- for standard input).")],
    output: Annotated[str, typer.Option("-o", "--output", help="The file to write; its extension names the "
                                        "format (npy, parquet, fvecs, bvecs, ivecs, fbin, u8bin, i8bin, ibin, "
                                        "hdf5).")],
    out_format: common.OutFormat = None,
    out_column: Annotated[Optional[str], typer.Option(help="Parquet column / HDF5 dataset to write (default emb "
                                                      "/ train).")] = None,
    batch_size: common.BatchSize = 65536,
    fmt: common.Format = None,
    column: common.Column = None,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Convert vectors between formats, row by row in batches, values and dtype kept (a format that
    cannot hold them is refused: float vectors to .bvecs, say)."""
    common.setup(quiet)
    report = convert_lib.convert(vectors, output, fmt=fmt, out_format=out_format, column=column,
                                 out_column=out_column, batch_size=batch_size)
    common.emit(report, as_json, f"converted {report['rows']} x {report['dim']} {report['dtype']} -> {output}")


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
