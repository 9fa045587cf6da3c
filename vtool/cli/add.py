"""vtool add: assign and store vectors into an index file."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vtool.cli import common
from vtool.commands import build


def add(
    model: Annotated[str, typer.Argument(help="Trained model (or an index to extend).")],
    vectors: Annotated[list[str], typer.Argument(help="One or more vector files.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Index file to write (.vti).")],
    id_column: Annotated[Optional[str], typer.Option(help="Parquet int column with the ids "
                                                     "(default: running row number across inputs).")] = None,
    shard: Annotated[Optional[str], typer.Option(help="I/N: add only the I-th (from 0) of N equal parts of the "
                                                 "input's rows, ids their row numbers (build shards in parallel, "
                                                 "then vtool merge).")] = None,
    batch_size: common.BatchSize = 65536,
    threads: Annotated[Optional[int], typer.Option(help="Graph indexes: linking threads (default: all cores; "
                                                   "the graph is the same for any count).")] = None,
    memory_budget: common.MemoryBudget = None,
    dask: common.Dask = False,
    scheduler: common.Scheduler = None,
    workers: common.Workers = None,
    scratch: common.Scratch = None,
    fmt: common.Format = None,
    column: common.Column = None,
    no_verify: common.NoVerify = False,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Assign vectors to lists and write the index (streaming, memory bounded by --batch-size;
    with --dask, encoded on a cluster and written here, the same bytes)."""
    common.setup(quiet)
    with common.memory_limit(memory_budget):
        report = build.add(model, vectors, output, id_column=id_column, batch_size=batch_size, fmt=fmt,
                           column=column, verify=not no_verify, threads=threads, shard=shard,
                           dask=common.dask_options(dask, scheduler, workers, scratch))
    common.emit(report, as_json, f"added {report['added']} vectors ({report['ntotal']} in all) "
                                 f"in {report['seconds']:.2f}s -> {output}")


def register(app: typer.Typer) -> None:
    app.command("add")(add)
