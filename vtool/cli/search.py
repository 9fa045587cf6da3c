"""vtool search: queries -> top-k ids and distances."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from vtool.commands import search as search_lib
from vtool.cli import common
from vtool.io.atomic import atomic_path, check_output_path
from vtool.errors import VtoolError
from vtool.io.results import range_format, result_format, write_range_results, write_results


def search(
    index: Annotated[str, typer.Argument(help="Index file (.vti).")],
    queries: Annotated[str, typer.Argument(help="Query vectors.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Results: .npz, .parquet, .ibin, or - for stdout.")],
    k: Annotated[int, typer.Option("-k", help="Neighbours per query.")] = 10,
    nprobe: Annotated[Optional[int], typer.Option(help="Lists probed per query (default 16; clamped to nlist "
                                                  "with a warning).")] = None,
    ef: Annotated[Optional[int], typer.Option(help="Graph indexes (HNSW, NSG): candidates kept per query (default 64; "
                                              "raised to k, or to the re-ranking shortlist, with a warning); "
                                              "IVF<n>_HNSW<M>: the quantizer's.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="Search threads (default: the cores this process may "
                                                   "use; results do not depend on it).")] = None,
    k_factor: Annotated[Optional[int], typer.Option(help="Re-ranking (RFlat or --refine): shortlist k * k-factor "
                                                    "(default 4, or what vtool tune stored).")] = None,
    refine: Annotated[Optional[str], typer.Option(help="Re-rank with exact distances to these original vectors "
                                                  "(row number = id, or --refine-id-column).")] = None,
    refine_id_column: Annotated[Optional[str], typer.Option(help="Parquet --refine: the column holding each "
                                                            "vector's id (an index with custom ids).")] = None,
    out_format: Annotated[Optional[str], typer.Option("--out-format", help="Result format (npz, parquet, ibin); "
                                                      "default from the extension, npz on stdout.")] = None,
    timing: Annotated[Optional[str], typer.Option(help="Write the timing record (JSON) here, for vtool eval --timing.")] = None,
    radius: Annotated[Optional[float], typer.Option(help="Range search: every result within this squared L2 "
                                                    "distance (inner product at least this for ip / cosine), "
                                                    "instead of the k nearest.")] = None,
    max_results: Annotated[Optional[int], typer.Option(help="Range search: keep at most this many results a "
                                                       "query, the nearest (a warning counts the queries cut).")] = None,
    memory_budget: common.MemoryBudget = None,
    dask: common.Dask = False,
    scheduler: common.Scheduler = None,
    workers: common.Workers = None,
    fmt: common.Format = None,
    column: common.Column = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip checksum verification of the index (a "
                                            "search then touches only the lists it probes).")] = False,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Search an index; write the k nearest ids and distances of every query (or, with --radius,
    every result within the radius: .rbin, .npz or .parquet)."""
    common.setup(quiet)
    common.check_json_stdout(as_json, output)
    if radius is None and max_results is not None:
        raise VtoolError("--max-results bounds a range search: give --radius")
    (result_format if radius is None else range_format)(output, out_format)
    check_output_path(output)
    if timing:
        check_output_path(timing)
    cluster = common.dask_options(dask, scheduler, workers)
    with common.memory_limit(memory_budget):
        if radius is not None:
            if refine_id_column:
                raise VtoolError("--refine-id-column is for k-NN searches; a range search re-ranks from an .npy / "
                                 ".fbin --refine (row number = id)")
            lims, ids, dist, report = search_lib.range_search(index, queries, radius, nprobe=nprobe, threads=threads,
                                                              verify=not no_verify, fmt=fmt, column=column,
                                                              refine=refine, ef=ef, max_results=max_results,
                                                              dask=cluster)
            write_range_results(output, lims, ids, dist, out_format)
        else:
            dist, ids, report = search_lib.search(index, queries, k=k, nprobe=nprobe, threads=threads,
                                                  verify=not no_verify, fmt=fmt, column=column,
                                                  k_factor=k_factor, refine=refine, ef=ef,
                                                  refine_id_column=refine_id_column, dask=cluster)
            write_results(output, ids, dist, out_format)
    if timing:
        with atomic_path(timing) as tmp:
            tmp.write_text(json.dumps(report, indent=2, sort_keys=True))
    common.emit(report, as_json, f"searched {report['queries']} queries in {report['seconds']:.3f}s "
                                 f"({report['qps']:.0f} QPS)")


def register(app: typer.Typer) -> None:
    app.command("search")(search)
