"""vtool merge / merge-results: shards built apart become one index, or one set of results."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from vtool.cli import common
from vtool.commands import merge as merge_lib


def merge(
    inputs: Annotated[List[str], typer.Argument(help="Indexes made from the same model (vtool add on each shard).")],
    output: Annotated[str, typer.Option("-o", "--output", help="The merged index (.vti).")],
    id_offset: Annotated[Optional[str], typer.Option(help="auto: shift each shard's ids past the previous one's "
                                                     "largest (recorded in the provenance). Without it, duplicate "
                                                     "ids are refused.")] = None,
    method: Annotated[Optional[str], typer.Option(help="Id codec of the result (default: the first input's).")] = None,
    batch_size: common.BatchSize = 65536,
    memory_budget: common.MemoryBudget = None,
    no_verify: common.NoVerify = False,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Merge indexes of one model list by list, in one streaming pass: list l holds the first
    shard's rows of l, then the second's, as one add of all the inputs would."""
    common.setup(quiet)
    with common.memory_limit(memory_budget):
        report = merge_lib.merge(inputs, output, id_offset=id_offset, method=method, batch_size=batch_size,
                                 verify=not no_verify)
    common.emit(report, as_json, f"merged {report['inputs']} indexes, {report['ntotal']} vectors -> {output}")


def merge_results(
    inputs: Annotated[List[str], typer.Argument(help="Results of the same queries on each shard.")],
    output: Annotated[str, typer.Option("-o", "--output", help="The merged results (or -).")],
    k: Annotated[Optional[int], typer.Option("-k", help="k-NN: results kept per query (default: the largest k "
                                             "given).")] = None,
    metric: Annotated[str, typer.Option(help="How distances rank: l2 (smaller first), ip or cosine (larger "
                                        "first).")] = "l2",
    fmt: Annotated[Optional[str], typer.Option("--format", help="Format of the inputs, overriding the "
                                               "extension.")] = None,
    out_format: Annotated[Optional[str], typer.Option("--out-format", help="Format of the output.")] = None,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Merge per-shard search results: the k best of each query (ties to the smaller id), or every
    range result, nearest first. A sharded search is search per shard + merge-results."""
    common.setup(quiet)
    common.check_json_stdout(as_json, output)
    report = merge_lib.merge_results(inputs, output, k=k, metric=metric, fmt=fmt, out_format=out_format)
    common.emit(report, as_json, f"merged {report['inputs']} result files -> {output}")


def register(app: typer.Typer) -> None:
    app.command("merge")(merge)
    app.command("merge-results")(merge_results)
