"""Build the encoding an index spec names (for vectors of dimension dv, after OPQ)."""

from __future__ import annotations

from vtool.index.spec import IndexSpec
from vtool.quant.encoding import Encoding, FlatEncoding
from vtool.quant.fastscan import FastScanPQ
from vtool.quant.pq import ProductQuantizer
from vtool.quant.rq import ResidualQuantizer
from vtool.quant.sq import SQ8, SQfp16


def make_encoding(spec: IndexSpec, dv: int, beam: int = 1) -> Encoding:
    if spec.encoding == "PQ":
        return ProductQuantizer(dv, spec.m, spec.nbits, by_residual=spec.by_residual)
    if spec.encoding == "PQfs":
        return FastScanPQ(dv, spec.m)
    if spec.encoding == "RQ":
        return ResidualQuantizer(dv, spec.m, spec.nbits, beam=beam)
    if spec.encoding == "SQ8":
        return SQ8(dv)
    if spec.encoding == "SQfp16":
        return SQfp16(dv)
    return FlatEncoding(dv)
