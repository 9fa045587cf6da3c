"""Index specs in Faiss's index_factory syntax, parsed once into the parts they name:

    [TRANSFORM,] [STRUCTURE,] ENCODING [,REFINE]

Each part class owns its token (`pattern`, `parse`, `token`); the classes are listed in
vtool/index/registry.py. Today: OPQ<m>[_<dout>]; IVF<n>; Flat, PQ<m>[x<nbits>][np],
PQ<m>x4fs[np], SQ8, SQ8_direct[_signed], SQ4, SQfp16, SQbf16, RQ<m>[x<nbits>]; RFlat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vtool.errors import VtoolError
from vtool.index import registry


@dataclass(frozen=True)
class Part:
    """A part class and the parameters its token gave."""

    cls: type
    params: dict = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        return self.cls.token(**self.params)

    def __eq__(self, other):
        return isinstance(other, Part) and self.cls is other.cls and self.params == other.params

    def __hash__(self):
        return hash((self.cls, tuple(sorted(self.params.items()))))


@dataclass(frozen=True)
class IndexSpec:
    transform: Part | None
    structure: Part
    coding: Part
    refine: Part | None = None

    def __str__(self) -> str:
        parts = [self.transform, self.structure if self.structure.cls.pattern else None, self.coding, self.refine]
        return ",".join(str(p) for p in parts if p is not None)

    @property
    def nlist(self) -> int | None:
        """Lists of an IVF structure; None without one."""
        return self.structure.params.get("nlist")

    @property
    def encoding(self) -> str:
        """The encoding's family name (Flat, PQ, PQfs, SQ8, RQ, ...)."""
        return self.coding.cls.name

    def vector_dim(self, d: int) -> int:
        """Dimension after the optional transform: what the structure and the encoding see."""
        return self.transform.cls.output_dim(self.transform.params, d) if self.transform else d

    def check_dimension(self, d: int) -> None:
        """Refuse a spec that does not fit vectors of dimension d."""
        if self.transform:
            self.transform.cls.check_dimension(self.transform.params, d, str(self))
        self.coding.cls.check_dimension(self.coding.params, self.vector_dim(d), str(self))


def _match(classes, text: str, spec: str) -> Part | None:
    for cls in classes:
        m = re.fullmatch(cls.pattern, text)
        if m:
            return Part(cls, cls.parse(m, spec) if hasattr(cls, "parse") else {})
    return None


def parse_spec(text: str) -> IndexSpec:
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise VtoolError(f"unknown or unsupported index spec {text!r}: empty component")
    transform = _match(registry.TRANSFORMS, parts[0], text)
    if transform:
        parts = parts[1:]
    refine = _match(registry.REFINERS, parts[-1], text) if parts else None
    if refine:
        parts = parts[:-1]
    structure = _match(registry.STRUCTURES, parts[0], text) if parts else None
    if structure:
        parts = parts[1:]
    elif len(parts) > 1 and parts[0].startswith("IVF"):
        raise VtoolError(f"unknown or unsupported index spec {text!r}: malformed {parts[0]!r}")
    if len(parts) != 1:
        raise VtoolError(f"unknown or unsupported index spec {text!r}; expected "
                         "[OPQ<m>[_<d>],][IVF<n>[_HNSW<M>],|HNSW<M>,|NSG<R>,]<encoding>[,RFlat]")
    coding = _match(registry.ENCODINGS, parts[0], text)
    if coding is None:
        raise VtoolError(f"unknown or unsupported index spec {text!r}: unknown encoding {parts[0]!r} "
                         f"(supported: {', '.join(registry.encoding_forms())})")
    spec = IndexSpec(transform, structure or Part(registry.FLAT_STRUCTURE), coding, refine)
    if structure and structure.cls.is_graph and coding.cls.layout != "rows":
        raise VtoolError(f"index spec {text!r}: a graph reads codes by row; {parts[0]} codes are scanned "
                         "in blocks (use PQ<m> or PQ<m>x4)")
    if refine and not coding.cls.lossy:
        raise VtoolError(f"index spec {text!r}: RFlat re-ranks compressed codes; Flat is already exact")
    return spec
