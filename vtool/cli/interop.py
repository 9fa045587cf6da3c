"""vtool export / import: faiss index files out and in (faiss-cpu: the vtool[faiss] extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from vtool.cli import common
from vtool.errors import VtoolError


def export(
    index: Annotated[str, typer.Argument(help="The vtool index to export.")],
    output: Annotated[str, typer.Option("-o", "--output", help="The file to write (index.faiss).")],
    to: Annotated[str, typer.Option("--to", help="The format: faiss.")] = "faiss",
    no_verify: common.NoVerify = False,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Write an index as a faiss index file that faiss.read_index loads and that returns the same
    results (Flat, IVF-Flat, IVF-PQ, IVF-SQ8, IVF-SQfp16; ids kept; compressed ids decoded)."""
    from vtool.interop import faiss_index

    common.setup(quiet)
    if to != "faiss":
        raise VtoolError(f"--to {to!r}: vtool exports to faiss")
    report = faiss_index.export(index, output, verify=not no_verify)
    common.emit(report, as_json, f"exported {report['spec']} as faiss {report['faiss_type']} -> {output}")


def import_(
    path: Annotated[str, typer.Argument(help="A faiss index file.")],
    output: Annotated[str, typer.Option("-o", "--output", help="The vtool index to write (.vti).")],
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Read a faiss index file (the types export writes) into a vtool index, with its trained
    state, codes and ids as they are; any other faiss type is refused, named."""
    from vtool.interop import faiss_index

    common.setup(quiet)
    report = faiss_index.import_index(path, output)
    common.emit(report, as_json, f"imported faiss {report['spec']} ({report['ntotal']} vectors) -> {output}")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("import")(import_)
