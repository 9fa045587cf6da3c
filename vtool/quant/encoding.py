"""The encodings an index stores its vectors in, behind one interface.

An Encoding turns float32 vectors (n, d) into codes (n, code_size) of uint8 and back,
knows its native scan kind (native/ivf_scan.c) and the float32 parameter block the
scan kernel reads, and saves its trained state as named arrays (.vti sections).
Nothing here knows about inverted lists.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from vtool.errors import VtoolError

KIND_FLAT, KIND_SQ8, KIND_FP16, KIND_PQ, KIND_RQ = 0, 1, 2, 3, 4


class Encoding(ABC):
    kind: int = KIND_FLAT
    by_residual: bool = False  # inside an IVF, encode x - centroid (Faiss's default for PQ, SQ, RQ)
    m: int = 0  # sub-codes per vector (PQ, RQ)
    ksub: int = 0  # centroids per sub-codebook (PQ, RQ)

    def __init__(self, d: int):
        self.d = d

    @property
    @abstractmethod
    def code_size(self) -> int:
        """Bytes per encoded vector."""

    @property
    def is_trained(self) -> bool:
        return True

    def train(self, x: np.ndarray, seed: int = 0) -> dict:
        """Learn the parameters from training vectors (residuals inside an IVF); returns a report."""
        return {}

    @abstractmethod
    def encode(self, x: np.ndarray) -> np.ndarray:
        """float32 (n, d) -> uint8 codes (n, code_size)."""

    @abstractmethod
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """uint8 codes (n, code_size) -> float32 reconstructions (n, d)."""

    def arrays(self) -> dict[str, np.ndarray]:
        """Trained state as named arrays (saved as .vti sections)."""
        return {}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the state written by arrays()."""

    def scan_params(self) -> np.ndarray:
        """The float32 parameter block the native scan reads."""
        return np.zeros(1, dtype=np.float32)

    def precomputed_tables(self, centroids: np.ndarray) -> np.ndarray | None:
        """Per-list lookup-table terms for L2 by residual (PQ, RQ), or None."""
        return None

    def check_codes(self, codes: np.ndarray, source: str) -> np.ndarray:
        if codes.ndim != 2 or codes.dtype != np.uint8 or codes.shape[1] != self.code_size:
            raise VtoolError(f"{source}: codes of shape {codes.shape} and dtype {codes.dtype} do not fit this "
                             f"model (uint8, {self.code_size} bytes per vector)")
        return codes


class FlatEncoding(Encoding):
    """Raw float32 vectors: the code of a vector is its bytes."""

    kind = KIND_FLAT

    @property
    def code_size(self) -> int:
        return 4 * self.d

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float32).view(np.uint8).reshape(len(x), self.code_size)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(codes).view(np.float32).reshape(len(codes), self.d)
