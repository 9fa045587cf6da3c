"""Every part an index spec can name, in one place: a new part is a new file plus one line
here. Order matters only where two patterns could match the same token (none today)."""

from __future__ import annotations

from vtool.index.graph import HNSW
from vtool.index.ivf_hnsw import IVFHNSW
from vtool.index.nsg import NSG
from vtool.index.refine import RFlat
from vtool.index.structure import IVF, Structure
from vtool.quant.bf16 import SQbf16
from vtool.quant.encoding import FlatEncoding
from vtool.quant.fastscan import FastScanPQ
from vtool.quant.opq import OPQ
from vtool.quant.pq import ProductQuantizer
from vtool.quant.rq import ResidualQuantizer
from vtool.quant.sq import SQ8, SQfp16
from vtool.quant.sq4 import SQ4
from vtool.quant.sq_direct import SQ8Direct, SQ8DirectSigned

TRANSFORMS = (OPQ,)
STRUCTURES = (IVF, IVFHNSW, HNSW, NSG)
FLAT_STRUCTURE = Structure  # a spec without a structure token: one list
ENCODINGS = (
    FlatEncoding,
    ProductQuantizer,
    FastScanPQ,
    SQ8,
    SQ8DirectSigned,
    SQ8Direct,
    SQfp16,
    SQ4,
    SQbf16,
    ResidualQuantizer,
)
REFINERS = (RFlat,)


def encoding_forms() -> list[str]:
    return [cls.forms for cls in ENCODINGS]
