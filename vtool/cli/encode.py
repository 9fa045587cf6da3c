"""vtool encode / vtool decode: vectors -> codes -> reconstructions, without building lists."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vtool.commands import encode as encode_lib
from vtool.cli import common


def encode(
    model: Annotated[str, typer.Argument(help="Trained model (.vti).")],
    vectors: Annotated[str, typer.Argument(help="Vectors to encode.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Code file: .npy or .parquet (id, list, code).")],
    id_column: Annotated[Optional[str], typer.Option(help="Parquet int column with the ids.")] = None,
    first_id: Annotated[int, typer.Option(help="Id of the first row when ids are row numbers (for shards).")] = 0,
    batch_size: common.BatchSize = 65536,
    fmt: common.Format = None,
    column: common.Column = None,
    no_verify: common.NoVerify = False,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Encode vectors with a trained model (list number and code of each); `vtool add` packs them."""
    common.setup(quiet)
    report = encode_lib.encode(model, vectors, output, id_column=id_column, first_id=first_id,
                               batch_size=batch_size, fmt=fmt, column=column, verify=not no_verify)
    common.emit(report, as_json, f"encoded {report['vectors']} vectors ({report['code_size']} bytes each) "
                                 f"in {report['seconds']:.2f}s -> {output}")


def decode(
    model: Annotated[str, typer.Argument(help="The model that made the codes.")],
    codes: Annotated[str, typer.Argument(help="Code file from vtool encode.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Reconstructed vectors, in any format vtool "
                                        "reads (npy, parquet, fvecs, fbin, hdf5, ...; bvecs / u8bin / i8bin "
                                        "for SQ8_direct[_signed]).")],
    out_format: common.OutFormat = None,
    batch_size: common.BatchSize = 65536,
    no_verify: common.NoVerify = False,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Reconstruct vectors from codes (residuals added back, OPQ undone)."""
    common.setup(quiet)
    report = encode_lib.decode(model, codes, output, batch_size=batch_size, verify=not no_verify,
                               out_format=out_format)
    common.emit(report, as_json, f"decoded {report['vectors']} vectors in {report['seconds']:.2f}s -> {output}")


def register(app: typer.Typer) -> None:
    app.command("encode")(encode)
    app.command("decode")(decode)
