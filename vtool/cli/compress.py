"""vtool compress-ids: losslessly shrink the ids stored in an index."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from vtool.cli import common
from vtool.commands.compress import compress_ids


def compress(
    index: Annotated[str, typer.Argument(help="Index file (.vti).")],
    output: Annotated[str, typer.Option("-o", "--output", help="Index to write with compressed ids.")],
    method: Annotated[str, typer.Option(help="packed, ef, roc, wt, int64 or auto (the smallest random-access "
                                             "codec; roc too with --allow-full-decode).")] = "auto",
    verify: Annotated[bool, typer.Option("--verify", help="Decode every id and compare with the input.")] = False,
    allow_full_decode: Annotated[bool, typer.Option("--allow-full-decode",
                                                    help="auto may pick roc (a row decodes its whole list, and the lists chained before it in its stream).")] = False,
    codes: Annotated[Optional[str], typer.Option("--codes", help="ans: also compress the PQ codes losslessly "
                                                 "(a search decodes the lists it probes).")] = None,
    adjacency: Annotated[Optional[str], typer.Option("--adjacency", help="Graph indexes: level-0 neighbour lists "
                                                     "as ef (default), packed, roc (near the set bound, slower to search) or int32.")] = None,
    no_verify: common.NoVerify = False,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Re-encode the ids of an index (bits per id against the information bounds)."""
    common.setup(quiet)
    report = compress_ids(index, output, method=method, verify=verify, allow_full_decode=allow_full_decode,
                          check=not no_verify, codes=codes, adjacency=adjacency)
    if as_json:
        common.emit(report, True, "")
        return
    if quiet:
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("ids")
    table.add_column("bits / id", justify="right")
    table.add_row(f"{report['method']} (written)", f"{report['bits_per_id']:.3f}")
    if report["id_table"]:
        table.add_row("  of which the sorted id table", f"{report['id_table_bits_per_id']:.3f}")
    for name, bits in report.get("candidates_bits_per_id", {}).items():
        if name != report["method"]:
            table.add_row(name, f"{bits:.3f}")
    table.add_row("int64", "64")
    table.add_row("zstd-19 of sorted deltas", f"{report['zstd_bits_per_id']:.3f}")
    table.add_row("bound: sum log2 C(N, n_i) / N", f"{report['log2_binomial_bits_per_id']:.3f}")
    table.add_row("bound: H(list sizes)", f"{report['entropy_bits_per_id']:.3f}")
    console = Console(highlight=False)
    console.print(table)
    if "code_bits_per_vector" in report:
        console.print(
            f"codes: {report['code_bits_per_vector']:.2f} bits/vector (raw {report['raw_code_bits_per_vector']}, "
            f"ideal adaptive {report['ideal_adaptive_bits_per_vector']:.2f}, empirical entropy "
            f"{report['empirical_entropy_bits_per_vector']:.2f}; {report['code_ratio_to_ideal']:.4f} x ideal)")
    if "adjacency" in report:
        console.print(
            f"graph links: {report['adjacency']} {report['adjacency_bits_per_edge']:.2f} bits/edge "
            f"({report['adjacency_bits_with_degrees_per_edge']:.2f} with degrees; set bound "
            f"{report['adjacency_set_bound_bits_per_edge']:.2f}, int32 32) over {report['level0_edges']} level-0 edges")
    ratio = report["ratio_to_log2_binomial"]  # None when the bound is 0 (a single list)
    console.print(
        f"{report['ids']} ids; {f'{ratio:.3f} x the bound' if ratio is not None else 'bound 0 bits (one list)'}; encode "
        f"{report['encode_seconds']:.3f}s, decode {report['decode_seconds']:.3f}s"
        + ("; verified" if report["verified"] else ""))


def register(app: typer.Typer) -> None:
    app.command("compress-ids")(compress)
