"""4-bit PQ for fast-scan: 16 centroids per sub-quantizer, two codes per byte.

A code (as `vtool encode` writes it) is ceil(m/2) bytes: sub-code j in the low nibble of
byte j//2 when j is even, the high nibble when odd. Inside an index, each list is
re-laid out in blocks of 32 vectors (native/fastscan.c) for the SIMD scan.
"""

from __future__ import annotations

import numpy as np

from vtool.quant.encoding import bounded
from vtool.quant.pq import ProductQuantizer


class FastScanPQ(ProductQuantizer):
    """PQ<m>x4fs[np]: scanned with 8-bit tables in SIMD registers (native/fastscan.c); `np`
    encodes the vector, not the residual (faiss's fast-scan default, so its files import)."""

    name = "PQfs"
    forms = "PQ<m>x4fs[np]"
    pattern = r"PQ(\d+)x4fs(np)?"
    layout = "fastscan"

    def __init__(self, d: int, m: int, by_residual: bool = True, niter: int = 25):
        super().__init__(d, m, 4, by_residual=by_residual, niter=niter)

    @classmethod
    def parse(cls, match, spec: str) -> dict:
        return {"m": bounded(match.group(1), spec), "by_residual": not match.group(2)}

    @classmethod
    def token(cls, m: int, by_residual: bool = True) -> str:
        return f"PQ{m}x4fs" + ("" if by_residual else "np")

    @property
    def code_size(self) -> int:
        return (self.m + 1) // 2

    def encode(self, x: np.ndarray) -> np.ndarray:
        return pack_nibbles(super().encode(x))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return super().decode(unpack_nibbles(codes, self.m))


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    n, m = codes.shape
    padded = np.zeros((n, m + (m & 1)), np.uint8)
    padded[:, :m] = codes
    return (padded[:, 0::2] | (padded[:, 1::2] << 4)).astype(np.uint8)


def unpack_nibbles(packed: np.ndarray, m: int) -> np.ndarray:
    packed = np.asarray(packed, np.uint8)
    out = np.empty((len(packed), 2 * packed.shape[1]), np.uint8)
    out[:, 0::2] = packed & 15
    out[:, 1::2] = packed >> 4
    return np.ascontiguousarray(out[:, :m])
