"""vtool info: what a file holds (index, model or vector file), or the CPU's SIMD level."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console

from vtool import _native
from vtool.commands import info as info_lib
from vtool.cli import common
from vtool.errors import VtoolError


def info(
    path: Annotated[Optional[str], typer.Argument(help="Any file vtool reads or writes: index, model, vectors, "
                                                  "codes, results, ground truth, ids (- reads standard input).")] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="Print the SIMD level in use and the CPU's best.")] = False,
    fmt: Annotated[Optional[str], typer.Option("--format", help="Read the file as this format, overriding the "
                                               "extension (vti, npz, parquet, npy, ibin, fvecs, bvecs, ivecs, "
                                               "fbin, u8bin, i8bin).")] = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="An index: skip checking its checksums.")] = False,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Describe a file: an index's spec, counts, bytes per section, list sizes; vectors' shape; codes;
    results and ground truth (queries, k, id range)."""
    common.setup(quiet)
    if cpu:
        report = {"simd_level": _native.simd_level(), "cpu_max_level": _native.cpu_max_level()}
    elif path is None:
        raise VtoolError("give a file to describe, or --cpu")
    else:
        report = info_lib.describe(path, verify=not no_verify, fmt=fmt)
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return
    _print_report(report)


def _print_report(report: dict) -> None:
    console = Console(highlight=False)
    for key, value in report.items():
        if key == "sections":
            console.print("sections:")
            for name, nbytes in value.items():
                console.print(f"  {name:<14} {nbytes:>14,d} bytes")
        elif key == "list_sizes":
            console.print(f"list sizes: min {value['min']}, max {value['max']}, mean {value['mean']:.1f}, "
                          f"std {value['std']:.1f}, empty {value['empty']}")
            for b in value["histogram"]:
                console.print(f"  {b['from']:>9}..{b['to']:<9} {b['lists']:>8} lists")
        elif key == "graph":
            console.print("graph: " + ", ".join(f"{k} {v}" for k, v in value.items()))
        elif key == "provenance":
            console.print(f"provenance: {json.dumps(value, sort_keys=True)}")
        else:
            console.print(f"{key}: {value}")


def register(app: typer.Typer) -> None:
    app.command("info")(info)
