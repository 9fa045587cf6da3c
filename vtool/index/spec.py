"""Index specs in Faiss's index_factory syntax (the subset vtool builds).

    [OPQ<m>[_<dout>],] [IVF<n>,] ENCODING [,RFlat]

ENCODING is one of
    Flat                raw float32 vectors
    PQ<m>[x<nbits>][np] product quantizer, nbits 4..8 (default 8); inside an IVF the
                        residual to the centroid is encoded unless `np` is given
    PQ<m>x4fs           4-bit PQ in fast-scan blocks of 32 (SIMD lookups, 8-bit tables)
    SQ8 | SQfp16        scalar quantizers
    RQ<m>[x<nbits>]     residual quantizer, nbits 1..8 (default 8), beam-search encoding
OPQ<m>[_<dout>] learns a rotation (to dout dimensions, default d) applied first.
RFlat keeps the raw vectors too and re-ranks the shortlist with exact distances.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vtool.errors import VtoolError

MAX_NLIST = 1 << 24
ENCODINGS = ("Flat", "PQ", "PQfs", "SQ8", "SQfp16", "RQ")


@dataclass(frozen=True)
class IndexSpec:
    nlist: int | None = None  # None: no coarse quantizer
    encoding: str = "Flat"  # one of ENCODINGS
    m: int = 0  # sub-quantizers (PQ, PQfs, RQ)
    nbits: int = 0
    by_residual: bool = True  # PQ inside an IVF; False with `np`
    opq_m: int | None = None
    opq_dout: int | None = None
    refine: bool = False

    def __str__(self) -> str:
        parts = []
        if self.opq_m:
            parts.append(f"OPQ{self.opq_m}" + (f"_{self.opq_dout}" if self.opq_dout else ""))
        if self.nlist is not None:
            parts.append(f"IVF{self.nlist}")
        if self.encoding == "PQ":
            parts.append(f"PQ{self.m}" + (f"x{self.nbits}" if self.nbits != 8 else "") + ("" if self.by_residual else "np"))
        elif self.encoding == "PQfs":
            parts.append(f"PQ{self.m}x4fs")
        elif self.encoding == "RQ":
            parts.append(f"RQ{self.m}x{self.nbits}")
        else:
            parts.append(self.encoding)
        if self.refine:
            parts.append("RFlat")
        return ",".join(parts)

    def vector_dim(self, d: int) -> int:
        """Dimension after the optional OPQ rotation: what the IVF and the encoding see."""
        return (self.opq_dout or d) if self.opq_m else d

    def check_dimension(self, d: int) -> None:
        """Refuse a spec that does not fit vectors of dimension d."""
        if self.opq_m:
            dout = self.opq_dout or d
            if dout > d:
                raise VtoolError(f"index spec {self}: OPQ output dimension {dout} is larger than d={d}")
            if dout % self.opq_m:
                raise VtoolError(f"index spec {self}: OPQ{self.opq_m} needs m to divide the dimension {dout}")
        dv = self.vector_dim(d)
        if self.encoding in ("PQ", "PQfs") and dv % self.m:
            raise VtoolError(f"index spec {self}: m={self.m} does not divide the dimension {dv}")


def _encoding(text: str, spec: str) -> dict:
    if text in ("Flat", "SQ8", "SQfp16"):
        return {"encoding": text}
    m = re.fullmatch(r"PQ(\d+)x4fs", text)
    if m:
        return {"encoding": "PQfs", "m": _positive(m.group(1), spec), "nbits": 4}
    m = re.fullmatch(r"PQ(\d+)(?:x(\d+))?(np)?", text)
    if m:
        nbits = int(m.group(2)) if m.group(2) else 8
        if not 4 <= nbits <= 8:
            raise VtoolError(f"index spec {spec!r}: PQ nbits must be between 4 and 8, got {nbits}")
        return {"encoding": "PQ", "m": _positive(m.group(1), spec), "nbits": nbits, "by_residual": not m.group(3)}
    m = re.fullmatch(r"RQ(\d+)(?:x(\d+))?", text)
    if m:
        nbits = int(m.group(2)) if m.group(2) else 8
        if not 1 <= nbits <= 8:
            raise VtoolError(f"index spec {spec!r}: RQ nbits must be between 1 and 8, got {nbits}")
        return {"encoding": "RQ", "m": _positive(m.group(1), spec), "nbits": nbits}
    raise VtoolError(f"unknown or unsupported index spec {spec!r}: unknown encoding {text!r} "
                     "(supported: Flat, PQ<m>[x<nbits>][np], PQ<m>x4fs, SQ8, SQfp16, RQ<m>[x<nbits>])")


def _positive(text: str, spec: str) -> int:
    value = int(text)
    if not 1 <= value <= 4096:
        raise VtoolError(f"index spec {spec!r}: {value} is out of range")
    return value


def parse_spec(text: str) -> IndexSpec:
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise VtoolError(f"unknown or unsupported index spec {text!r}: empty component")
    fields: dict = {}
    if parts and (m := re.fullmatch(r"OPQ(\d+)(?:_(\d+))?", parts[0])):
        fields["opq_m"] = _positive(m.group(1), text)
        fields["opq_dout"] = _positive(m.group(2), text) if m.group(2) else None
        parts = parts[1:]
    if parts and parts[-1] == "RFlat":
        fields["refine"] = True
        parts = parts[:-1]
    if parts and parts[0].startswith("IVF"):
        m = re.fullmatch(r"IVF(\d+)", parts[0])
        if not m:
            raise VtoolError(f"unknown or unsupported index spec {text!r}: malformed {parts[0]!r}")
        nlist = int(m.group(1))
        if not 1 <= nlist <= MAX_NLIST:
            raise VtoolError(f"index spec {text!r}: the number of lists must be between 1 and {MAX_NLIST}")
        fields["nlist"] = nlist
        parts = parts[1:]
    if len(parts) != 1:
        raise VtoolError(f"unknown or unsupported index spec {text!r}; expected "
                         "[OPQ<m>[_<d>],][IVF<n>,]<encoding>[,RFlat]")
    fields.update(_encoding(parts[0], text))
    spec = IndexSpec(**fields)
    if spec.refine and spec.encoding == "Flat":
        raise VtoolError(f"index spec {text!r}: RFlat re-ranks compressed codes; Flat is already exact")
    return spec
