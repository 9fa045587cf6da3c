"""vtool train: learn a model (rotation, coarse quantizer, codebooks) from a sample of the input."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vtool.cli import common
from vtool.commands import build


def train(
    vectors: Annotated[str, typer.Argument(help="Training vectors (any supported format).")],
    output: Annotated[str, typer.Option("-o", "--output", help="Model file to write (.vti).")],
    index: Annotated[str, typer.Option("--index", help="Index spec, Faiss factory syntax: "
                                       "[OPQ<m>[_<d>],][IVF<n>[_HNSW<M>],|HNSW<M>,|NSG<R>,](Flat|PQ<m>[x<b>][np]|PQ<m>x4fs|SQ8|SQ4|SQfp16|SQbf16|RQ<m>[x<b>])[,RFlat].")],
    metric: Annotated[Optional[str], typer.Option(help="Distance: l2 (squared L2), ip (inner product) or cosine "
                                                  "(inner product of vectors scaled to unit length on the way in); "
                                                  "default l2, or what an ann-benchmarks HDF5 input names.")] = None,
    seed: common.Seed = 0,
    max_train: Annotated[Optional[int], typer.Option(help="Train on at most this many rows, sampled at random "
                                                     "(default: what the parts need, e.g. 256 x nlist).")] = None,
    niter: Annotated[int, typer.Option(help="k-means iterations.")] = 25,
    init: Annotated[str, typer.Option(help="k-means initialisation: random or kmeans++.")] = "random",
    beam: Annotated[int, typer.Option(help="RQ: beam width of the encoder (1 = greedy).")] = 1,
    ef_construction: Annotated[Optional[int], typer.Option(help="HNSW: candidates kept while linking a node "
                                                           "(default 40, as Faiss).")] = None,
    memory_budget: common.MemoryBudget = None,
    fmt: common.Format = None,
    column: common.Column = None,
    quiet: common.Quiet = False,
    as_json: common.Json = False,
):
    """Learn what the spec names from a random sample of the input and write a model: the OPQ
    rotation, the IVF centroids (for IVF<n>_HNSW<M>, also the graph over them), the PQ / RQ
    codebooks, the SQ ranges. Flat, RFlat and the HNSW / NSG graphs learn nothing here: add
    stores the vectors and builds the graph."""
    common.setup(quiet)
    with common.memory_limit(memory_budget):
        report = build.train(vectors, output, index, metric=metric, seed=seed, max_train=max_train, niter=niter,
                             init=init, beam=beam, fmt=fmt, column=column, ef_construction=ef_construction)
    common.emit(report, as_json, f"trained {report['spec']} (d={report['d']}) in {report['seconds']:.2f}s -> {output}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
