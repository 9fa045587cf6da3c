"""vtool eval: recall against ground truth, QPS from a timing record, index size."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from vtool import evaluate as evaluate_lib
from vtool import groundtruth
from vtool.cli import common
from vtool.errors import EXIT_GATE, VtoolError
from vtool.io.results import read_results


def evaluate(
    results: Annotated[Optional[str], typer.Argument(help="Search results (.npz, .parquet, .ibin).")] = None,
    gt: Annotated[Optional[str], typer.Option("--gt", help="Ground truth (.ibin, .npz, .parquet, .ivecs, .npy).")] = None,
    gt_distances: Annotated[Optional[str], typer.Option(help=".npy of ground-truth distances, when --gt is an "
                                                        "ids-only .npy (enables tie handling).")] = None,
    base: Annotated[Optional[str], typer.Option(help="Compute the ground truth from these base vectors...")] = None,
    queries: Annotated[Optional[str], typer.Option(help="...and these queries.")] = None,
    metric: Annotated[str, typer.Option(help="Metric for a computed ground truth: l2 or ip.")] = "l2",
    k: Annotated[Optional[int], typer.Option("-k", help="Evaluate at this k (default: the results' k).")] = None,
    timing: Annotated[Optional[str], typer.Option(help="Timing record from vtool search --timing (adds QPS).")] = None,
    index: Annotated[Optional[str], typer.Option(help="Index file (adds its size per vector; with --mse, "
                                                 "its reconstruction error).")] = None,
    mse: Annotated[bool, typer.Option("--mse", help="Reconstruction error of --index (or --codes with --model) "
                                      "against --base (ids are its row numbers).")] = False,
    codes: Annotated[Optional[str], typer.Option(help="Code file from vtool encode, for --mse.")] = None,
    model: Annotated[Optional[str], typer.Option(help="The model that made --codes.")] = None,
    fail_below: Annotated[Optional[float], typer.Option(help="Exit 3 when the gated recall is below this.")] = None,
    gate: Annotated[str, typer.Option(help="Recall the gate checks: k-recall@k, 1-recall@k or recall@1.")] = "k-recall@k",
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Recall@1, 1-recall@k and k-recall@k (distance ties as big-ann-benchmarks), QPS, size, MSE."""
    common.setup(quiet)
    if gate not in evaluate_lib.RECALL_NAMES:
        raise VtoolError(f"unknown --gate {gate!r}; choose {', '.join(evaluate_lib.RECALL_NAMES)}")
    if mse and base is None:
        raise VtoolError("--mse compares reconstructions with the original vectors: give --base")
    if results is None:
        if not mse:
            raise VtoolError("give search results to evaluate, or --mse with --base and --index "
                             "(or --codes and --model)")
        report = evaluate_lib.reconstruction_mse(base, index, codes, model)
        if index:
            report.update(evaluate_lib.index_size(index))
        _output(report, as_json)
        return
    ids, _ = read_results(results)
    if gt is not None:
        gt_ids, gt_dist = read_results(gt, gt_distances)
    elif base is not None and queries is not None:
        gt_dist, gt_ids, _ = groundtruth.ground_truth(base, queries, k=ids.shape[1], metric=metric)
        if metric == "ip":
            gt_dist = -gt_dist
    else:
        raise VtoolError("give the ground truth with --gt, or --base and --queries to compute it")
    report = evaluate_lib.recalls(ids, gt_ids, gt_dist, k)
    if timing:
        try:
            with open(timing) as f:
                t = json.load(f)
            report.update(qps=t["qps"], search_seconds=t["seconds"], threads=t.get("threads"))
        except (OSError, ValueError, KeyError) as e:
            raise VtoolError(f"{timing}: not a timing record from vtool search ({e})") from None
    if index:
        report.update(evaluate_lib.index_size(index))
    if mse:
        report.update(evaluate_lib.reconstruction_mse(base, index, codes, model))
    if fail_below is not None:
        report["gate"] = {"recall": gate, "threshold": fail_below, "passed": report[gate] >= fail_below}
    _output(report, as_json)
    if fail_below is not None and not report["gate"]["passed"]:
        raise typer.Exit(EXIT_GATE)


def _output(report: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        _print_table(report)


def _print_table(report: dict) -> None:
    table = Table(show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    if "k" in report:
        k = report["k"]
        table.add_row("queries", str(report["queries"]))
        table.add_row(f"{k}-recall@{k}", f"{report['k-recall@k']:.4f}")
        table.add_row(f"1-recall@{k}", f"{report['1-recall@k']:.4f}")
        table.add_row("recall@1", f"{report['recall@1']:.4f}")
    if report.get("mse") is not None:
        table.add_row(f"reconstruction MSE ({report['mse_vectors']} vectors)", f"{report['mse']:.6g}")
    if "qps" in report:
        table.add_row("QPS", f"{report['qps']:.0f}")
    if report.get("bytes_per_vector"):
        table.add_row("index bytes/vector", f"{report['bytes_per_vector']:.1f}")
        table.add_row("id bits/vector", f"{report['id_bits_per_vector']:.1f}")
    if "gate" in report:
        g = report["gate"]
        table.add_row(f"gate {g['recall']} >= {g['threshold']}", "pass" if g["passed"] else "FAIL")
    Console(highlight=False).print(table)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
