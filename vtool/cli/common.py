"""Options and output helpers shared by the subcommands."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from vtool import log
from vtool.errors import VtoolError

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No logs or progress on stderr (errors still shown).")]
Json = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]
Seed = Annotated[int, typer.Option(help="Random seed: same seed, same inputs -> same output bytes.")]
BatchSize = Annotated[int, typer.Option(help="Rows read per batch: bounds memory for inputs larger than RAM.")]
Format = Annotated[Optional[str], typer.Option("--format", help="Input format, overriding the extension "
                                                "(npy, parquet, fvecs, bvecs, ivecs, fbin, u8bin, i8bin, ibin).")]
OutFormat = Annotated[Optional[str], typer.Option("--out-format", help="Output format, overriding the "
                                                   "extension.")]
Column = Annotated[Optional[str], typer.Option(help="Parquet: the list column holding the vectors "
                                                "(default: the only list column).")]
NoVerify = Annotated[bool, typer.Option("--no-verify", help="Skip checksum verification of the index or "
                                        "model read (faster on large files; corruption then goes unnoticed).")]
MemoryBudget = Annotated[Optional[str], typer.Option(help="Stay under this much memory (512M, 2G): batch sizes "
                                                     "follow it, memory-mapped files are kept out of RSS; what it "
                                                     "cannot bound is in the README.")]


def memory_limit(text: str | None):
    """The context a command runs its library call in: under the --memory-budget, if any."""
    from vtool.memory import limited, parse_size

    return limited(None if text is None else parse_size(text))


Dask = Annotated[bool, typer.Option("--dask", help="Run on a Dask cluster: a LocalCluster of --workers "
                                    "processes, or the one at --scheduler (needs vtool[dask]).")]
Scheduler = Annotated[Optional[str], typer.Option(help="Dask scheduler address (tcp://host:8786); implies "
                                                  "--dask. Workers must see the input paths.")]
Workers = Annotated[Optional[int], typer.Option(help="--dask without --scheduler: worker processes of the "
                                                "LocalCluster (default: the cores this process may use).")]
Scratch = Annotated[Optional[str], typer.Option(help="--dask: a directory client and workers share, for task "
                                                "results (default: sent back through Dask).")]


def dask_options(dask: bool, scheduler: str | None, workers: int | None, scratch: str | None = None):
    """The --dask options as DaskOptions, or None for a local run (refusing Dask-only options)."""
    from vtool.distributed import DaskOptions
    from vtool.errors import VtoolError

    if not dask and scheduler is None:
        for name, value in (("--workers", workers), ("--scratch", scratch)):
            if value is not None:
                raise VtoolError(f"{name} is for --dask runs")
        return None
    return DaskOptions(scheduler=scheduler, workers=workers, scratch=scratch)


def setup(quiet: bool) -> None:
    log.configure(quiet)


def emit(report: dict, as_json: bool, summary: str) -> None:
    """Report: JSON on stdout when asked, else a one-line summary on stderr."""
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True, default=_jsonable))
    else:
        log.info(summary)


def _jsonable(v):
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def check_json_stdout(as_json: bool, output: str) -> None:
    if as_json and output == "-":
        raise VtoolError("--json and -o - both want stdout; write the output to a file")
