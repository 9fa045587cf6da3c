"""Index specs in Faiss's index_factory syntax (the subset vtool builds).

Supported now:
    Flat            exact search over the raw float32 vectors
    IVF<n>,Flat     inverted file with n lists (k-means coarse quantizer), raw vectors in the lists
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vtool.errors import VtoolError

MAX_NLIST = 1 << 24


@dataclass(frozen=True)
class IndexSpec:
    nlist: int | None  # None: no coarse quantizer (Flat)
    encoding: str  # "Flat"

    def __str__(self) -> str:
        return self.encoding if self.nlist is None else f"IVF{self.nlist},{self.encoding}"


def parse_spec(text: str) -> IndexSpec:
    parts = [p.strip() for p in text.split(",")]
    if parts == ["Flat"]:
        return IndexSpec(None, "Flat")
    if len(parts) == 2 and parts[1] == "Flat":
        m = re.fullmatch(r"IVF(\d+)", parts[0])
        if m:
            nlist = int(m.group(1))
            if not 1 <= nlist <= MAX_NLIST:
                raise VtoolError(f"index spec {text!r}: the number of lists must be between 1 and {MAX_NLIST}")
            return IndexSpec(nlist, "Flat")
    raise VtoolError(f"unknown or unsupported index spec {text!r}; supported: 'Flat', 'IVF<n>,Flat'")
