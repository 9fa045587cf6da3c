"""vtool gt: exact ground truth, blocked and memory-bounded."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vtool.commands import groundtruth
from vtool.cli import common
from vtool.io.atomic import check_output_path
from vtool.io.results import result_format, write_results


def gt(
    base: Annotated[str, typer.Argument(help="Base vectors.")],
    queries: Annotated[str, typer.Argument(help="Query vectors.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Ground truth: .ibin (big-ann layout), .npz, .parquet, or -.")],
    k: Annotated[int, typer.Option("-k", help="Neighbours per query.")] = 100,
    metric: Annotated[str, typer.Option(help="l2, ip, or cosine (inner product of vectors scaled to unit length).")] = "l2",
    out_format: Annotated[Optional[str], typer.Option("--out-format", help="npz, parquet or ibin.")] = None,
    batch_size: common.BatchSize = 65536,
    fmt: common.Format = None,
    column: common.Column = None,
    id_column: Annotated[Optional[str], typer.Option(help="Parquet base: ids from this column instead of row "
                                                     "numbers (as vtool add --id-column gives the index).")] = None,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Exact k nearest neighbours of every query in the base (the reference for eval)."""
    common.setup(quiet)
    common.check_json_stdout(as_json, output)
    result_format(output, out_format)
    check_output_path(output)
    dist, ids, report = groundtruth.ground_truth(base, queries, k=k, metric=metric, batch_size=batch_size,
                                                 fmt=fmt, column=column, id_column=id_column)
    write_results(output, ids, dist, out_format)
    common.emit(report, as_json, f"ground truth for {report['queries']} queries in {report['seconds']:.2f}s")


def register(app: typer.Typer) -> None:
    app.command("gt")(gt)
