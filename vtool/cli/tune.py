"""vtool tune: sweep an index's search parameter, show the Pareto front, pick the operating
point that meets a target, check it on held-out queries, and optionally store it."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from vtool.cli import common
from vtool.commands import tune as tune_lib
from vtool.errors import EXIT_GATE


def tune(
    index: Annotated[str, typer.Argument(help="The index to tune.")],
    queries: Annotated[str, typer.Argument(help="Query vectors (split into a tuning part and a held-out part).")],
    gt: Annotated[str, typer.Option("--gt", help="Ground truth of the queries (k-NN; range for range-ap / rsm).")],
    target_recall: Annotated[Optional[float], typer.Option(help="Pick the fastest point whose measure reaches "
                                                           "this (points within 5 % of the fastest tie; the "
                                                           "smallest parameters win).")] = None,
    target_qps: Annotated[Optional[float], typer.Option(help="Pick the most accurate point reaching this many "
                                                        "queries per second.")] = None,
    measure: Annotated[str, typer.Option(help="k-recall@k, 1-recall@k, recall@1, range-ap or rsm (these two "
                                         "with --radius).")] = "k-recall@k",
    k: Annotated[int, typer.Option("-k", help="Results per query (k-NN).")] = 10,
    radius: Annotated[Optional[float], typer.Option(help="Range search: tune a search at this radius.")] = None,
    rsm_radius: Annotated[Optional[float], typer.Option(help="rsm: the step's radius (default --radius).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="Search threads (default: the cores this process may "
                                                   "use); QPS is measured with them.")] = None,
    holdout_fraction: Annotated[float, typer.Option(help="Queries kept out of the choice, to measure it "
                                                    "honestly.")] = 0.5,
    max_seconds: Annotated[float, typer.Option(help="Stop sweeping after this long.")] = 300.0,
    seed: common.Seed = 0,
    write: Annotated[bool, typer.Option("--write", help="Store the chosen point in the index as its default "
                                        "search parameters (vtool search without flags uses them).")] = False,
    plot: Annotated[Optional[str], typer.Option(help="Draw the measure against QPS, front and choice, to this "
                                                ".png (needs vtool[plot]).")] = None,
    gt_format: Annotated[Optional[str], typer.Option("--gt-format", help="Format of --gt, overriding the "
                                                     "extension.")] = None,
    fmt: common.Format = None,
    column: common.Column = None,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Find the operating point a target needs: sweep nprobe / ef (and RFlat's k-factor) coarse to
    fine, print the Pareto front, pick the cheapest point meeting the target, report it on
    held-out queries; exit 3 when no point meets it."""
    common.setup(quiet)
    report = tune_lib.tune(index, queries, gt, target_recall=target_recall, target_qps=target_qps, measure=measure,
                           k=k, radius=radius, rsm_radius=rsm_radius, threads=threads,
                           holdout_fraction=holdout_fraction, max_seconds=max_seconds, seed=seed, write=write,
                           gt_format=gt_format, fmt=fmt, column=column)
    if plot:
        tune_lib.plot_points(report, plot)
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        _print(report)
    if not report["met"]:
        raise typer.Exit(EXIT_GATE)


def _print(report: dict) -> None:
    console = Console(highlight=False)
    table = Table(title=f"Pareto front ({report['measure']}, {report['tune_queries']} tuning queries)")
    params = [key for key in ("nprobe", "ef", "k_factor", "search_radius") if key in report["chosen"]]
    for column in params + [report["measure"], "QPS"]:
        table.add_column(column, justify="right")
    for p in report["front"]:
        mark = " *" if all(p.get(key) == report["chosen"].get(key) for key in params) else ""
        table.add_row(*[str(p[key]) for key in params], f"{p['quality']:.4f}{mark}", f"{p['qps']:.0f}")
    console.print(table)
    chosen = ", ".join(f"{key} {report['chosen'][key]}" for key in params) or "(no parameter)"
    target = f"{report['measure']} >= {report['target_recall']}" if report["target_recall"] is not None \
        else f"QPS >= {report['target_qps']}"
    verdict = "met" if report["met"] else "NOT met; best point reached"
    console.print(f"target {target}: {verdict}: {chosen} -> {report['chosen']['quality']:.4f} at "
                  f"{report['chosen']['qps']:.0f} QPS")
    if "holdout" in report:
        console.print(f"held-out queries ({report['holdout_queries']}): {report['holdout']['quality']:.4f} at "
                      f"{report['holdout']['qps']:.0f} QPS")
    if report.get("written"):
        console.print(f"stored in {report['index']} as its default search parameters")


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)
