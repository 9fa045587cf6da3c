"""SQ4: 4 bits per component with a per-dimension min / max (as Faiss QT_4bit), two
components a byte, the even one in the low nibble; trained like SQ8 (sections sq_vmin,
sq_vdiff), decoded to the bucket middle vmin + (code + 0.5) * vdiff / 15 (native/sq4.c)."""

from __future__ import annotations

import numpy as np

from vtool.quant.fastscan import pack_nibbles, unpack_nibbles
from vtool.quant.sq import SQ8


class SQ4(SQ8):
    name = pattern = forms = "SQ4"
    scan = "SQ4"
    levels = 15

    @property
    def code_size(self) -> int:
        return (self.d + 1) // 2

    def encode(self, x: np.ndarray) -> np.ndarray:
        return pack_nibbles(self.quantize(x))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return super().decode(unpack_nibbles(codes, self.d))
