"""SQbf16: every component as a bfloat16, the high half of its float32 rounded to nearest
even (as Faiss QT_bf16): 8 bits of exponent, so any finite float32 range fits, with 8
bits of mantissa. Decoding is a shift (native/bf16.c)."""

from __future__ import annotations

import numpy as np

from vtool.errors import VtoolError
from vtool.quant.encoding import Encoding


class SQbf16(Encoding):
    name = pattern = forms = "SQbf16"
    scan = "BF16"
    by_residual = True

    @property
    def code_size(self) -> int:
        return 2 * self.d

    def encode(self, x: np.ndarray) -> np.ndarray:
        bits = np.ascontiguousarray(x, np.float32).view(np.uint32)
        # finite floats stay below 0xFF800000, so the rounding bias cannot wrap 32 bits
        half = ((bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))) >> np.uint32(16)).astype(np.uint16)
        if np.any((half & 0x7F80) == 0x7F80):
            raise VtoolError("a vector component rounds past the largest bfloat16; use Flat")
        return half.view(np.uint8).reshape(len(x), self.code_size)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        half = np.ascontiguousarray(codes).view(np.uint16).reshape(len(codes), self.d)
        return (half.astype(np.uint32) << 16).view(np.float32)
