"""vtool gt: exact ground truth, blocked and memory-bounded."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vtool.commands import groundtruth
from vtool.cli import common
from vtool.io.atomic import check_output_path
from vtool.io.results import range_format, result_format, write_range_results, write_results


def gt(
    base: Annotated[str, typer.Argument(help="Base vectors.")],
    queries: Annotated[str, typer.Argument(help="Query vectors.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Ground truth: .ibin (big-ann layout), .npz, .parquet, or -.")],
    k: Annotated[int, typer.Option("-k", help="Neighbours per query.")] = 100,
    metric: Annotated[Optional[str], typer.Option(help="l2, ip, or cosine (inner product of vectors scaled to unit "
                                                  "length); default l2, or what an HDF5 base names.")] = None,
    radius: Annotated[Optional[float], typer.Option(help="Range ground truth: every base vector within this "
                                                    "squared L2 distance (inner product at least this for ip / "
                                                    "cosine), written .rbin (big-ann range layout), .npz or "
                                                    ".parquet.")] = None,
    out_format: Annotated[Optional[str], typer.Option("--out-format", help="npz, parquet or ibin (range: rbin, "
                                                      "npz or parquet).")] = None,
    batch_size: common.BatchSize = 65536,
    fmt: common.Format = None,
    column: common.Column = None,
    id_column: Annotated[Optional[str], typer.Option(help="Parquet base: ids from this column instead of row "
                                                     "numbers (as vtool add --id-column gives the index).")] = None,
    memory_budget: common.MemoryBudget = None,
    dask: common.Dask = False,
    scheduler: common.Scheduler = None,
    workers: common.Workers = None,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Exact k nearest neighbours of every query in the base, or with --radius every base vector
    within it (the reference for eval); with --dask, the base in ranges on a cluster, the same result."""
    common.setup(quiet)
    common.check_json_stdout(as_json, output)
    (result_format if radius is None else range_format)(output, out_format)
    check_output_path(output)
    cluster = common.dask_options(dask, scheduler, workers)
    with common.memory_limit(memory_budget):
        if radius is not None:
            lims, ids, dist, report = groundtruth.range_ground_truth(base, queries, radius, metric=metric,
                                                                     batch_size=batch_size, fmt=fmt, column=column,
                                                                     id_column=id_column, dask=cluster)
            write_range_results(output, lims, ids, dist, out_format)
        else:
            dist, ids, report = groundtruth.ground_truth(base, queries, k=k, metric=metric, batch_size=batch_size,
                                                         fmt=fmt, column=column, id_column=id_column, dask=cluster)
            write_results(output, ids, dist, out_format)
    common.emit(report, as_json, f"ground truth for {report['queries']} queries in {report['seconds']:.2f}s")


def register(app: typer.Typer) -> None:
    app.command("gt")(gt)
