"""vtool eval: recall against ground truth, QPS from a timing record, index size."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console

from vtool.commands import evaluate as evaluate_lib
from vtool.cli import common
from vtool.errors import EXIT_GATE


def evaluate(
    results: Annotated[Optional[str], typer.Argument(help="Search results (.npz, .parquet, .ibin; - reads "
                                                     "standard input).")] = None,
    gt: Annotated[Optional[str], typer.Option("--gt", help="Ground truth (.ibin, .npz, .parquet, .ivecs, .npy).")] = None,
    results_format: Annotated[Optional[str], typer.Option("--format", help="Format of the results, overriding "
                                                          "the extension (npz, parquet, ibin, ivecs, npy).")] = None,
    gt_format: Annotated[Optional[str], typer.Option("--gt-format", help="Format of --gt, overriding the "
                                                     "extension.")] = None,
    rsm_table: Annotated[Optional[str], typer.Option(help="Range evaluation: RSM's value of a result at a distance, "
                                                     "as rows 'distance value' (piecewise linear).")] = None,
    rsm_radius: Annotated[Optional[float], typer.Option(help="Range evaluation: RSM with a step value (1 within "
                                                        "this distance, 0 beyond).")] = None,
    plot: Annotated[Optional[str], typer.Option(help="Draw the range precision-recall curve (or the k-NN recall "
                                                "against QPS point) to this .png (needs vtool[plot]).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 2) instead of warning when the results' "
                                         "ids and the ground truth's cannot be the same ids.")] = False,
    gt_distances: Annotated[Optional[str], typer.Option(help=".npy of ground-truth distances, when --gt is an "
                                                        "ids-only .npy (enables tie handling).")] = None,
    base: Annotated[Optional[str], typer.Option(help="Compute the ground truth from these base vectors...")] = None,
    queries: Annotated[Optional[str], typer.Option(help="...and these queries.")] = None,
    metric: Annotated[str, typer.Option(help="Metric for a computed ground truth: l2, ip or cosine.")] = "l2",
    k: Annotated[Optional[int], typer.Option("-k", help="Evaluate at this k (default: the results' k).")] = None,
    timing: Annotated[Optional[str], typer.Option(help="Timing record from vtool search --timing (adds QPS).")] = None,
    index: Annotated[Optional[str], typer.Option(help="Index file (adds its size per vector; with --mse, "
                                                 "its reconstruction error).")] = None,
    mse: Annotated[bool, typer.Option("--mse", help="Reconstruction error of --index (or --codes with --model) "
                                      "against --base (ids are its row numbers).")] = False,
    codes: Annotated[Optional[str], typer.Option(help="Code file from vtool encode, for --mse.")] = None,
    model: Annotated[Optional[str], typer.Option(help="The model that made --codes.")] = None,
    fail_below: Annotated[Optional[float], typer.Option(help="Exit 3 when the gated recall is below this.")] = None,
    gate: Annotated[str, typer.Option(help="Measure the gate checks: k-recall@k, 1-recall@k or recall@1; for range "
                                      "results range_ap (what k-recall@k means there), range_recall, "
                                      "range_precision or rsm.")] = "k-recall@k",
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Recall@1, 1-recall@k and k-recall@k (distance ties as big-ann-benchmarks), QPS, size, MSE; for
    range results, precision, recall, range AP and RSM."""
    common.setup(quiet)
    report = evaluate_lib.evaluate(results, gt=gt, gt_distances=gt_distances, base=base, queries=queries,
                                   metric=metric, k=k, timing=timing, index=index, mse=mse, codes=codes,
                                   model=model, fail_below=fail_below, gate=gate, results_format=results_format,
                                   gt_format=gt_format, strict=strict, rsm_table=rsm_table, rsm_radius=rsm_radius)
    if plot:
        evaluate_lib.plot_report(report, plot)
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        Console(highlight=False).print(evaluate_lib.report_table(report))
    if not report.get("gate", {}).get("passed", True):
        raise typer.Exit(EXIT_GATE)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
