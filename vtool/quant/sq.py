"""Scalar quantizers: SQ8 (per-dimension min/max, 8 bits, as Faiss QT_8bit) and SQfp16."""

from __future__ import annotations

import numpy as np

from vtool.errors import VtoolError
from vtool.quant.encoding import Encoding

FP16_MAX = float(np.finfo(np.float16).max)
MINMAX_TRAIN = 65536  # rows for the per-dimension min / max


class SQ8(Encoding):
    """Component i -> floor(levels * clip((x - vmin) / vdiff, 0, 1)); decodes to the bucket
    middle, vmin + (code + 0.5) * vdiff / levels (the native scan uses the same formula).
    Subclasses with fewer levels (SQ4) change the packing, not the training."""

    name = pattern = forms = "SQ8"
    scan = "SQ8"
    sections = ("sq_vmin", "sq_vdiff")
    by_residual = True
    levels = 255

    def __init__(self, d: int):
        super().__init__(d)
        self.vmin: np.ndarray | None = None
        self.vdiff: np.ndarray | None = None

    @property
    def code_size(self) -> int:
        return self.d

    @property
    def is_trained(self) -> bool:
        return self.vmin is not None

    def default_max_train(self) -> int:
        return MINMAX_TRAIN

    def expected_shapes(self) -> dict[str, tuple]:
        return {"sq_vmin": (self.d,), "sq_vdiff": (self.d,)}

    def train(self, x: np.ndarray, seed: int = 0) -> dict:
        self.vmin = x.min(axis=0).astype(np.float32)
        self.vdiff = (x.max(axis=0) - self.vmin).astype(np.float32)
        return {}

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Component codes (n, d), one per byte."""
        safe = np.where(self.vdiff > 0, self.vdiff, 1.0).astype(np.float32)
        t = np.clip((np.asarray(x, np.float32) - self.vmin) / safe, 0.0, 1.0)
        return (np.float32(self.levels) * t).astype(np.uint8)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.quantize(x)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self.vmin + (codes.astype(np.float32) + np.float32(0.5)) * self.step

    def arrays(self) -> dict[str, np.ndarray]:
        return {"sq_vmin": self.vmin, "sq_vdiff": self.vdiff}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        self.vmin = np.asarray(arrays["sq_vmin"], np.float32)
        self.vdiff = np.asarray(arrays["sq_vdiff"], np.float32)

    @property
    def step(self) -> np.ndarray:
        return (self.vdiff / np.float32(self.levels)).astype(np.float32)

    def scan_params(self) -> np.ndarray:
        return np.concatenate([self.vmin, self.step]).astype(np.float32)


class SQfp16(Encoding):
    name = pattern = forms = "SQfp16"
    scan = "FP16"
    by_residual = True

    @property
    def code_size(self) -> int:
        return 2 * self.d

    def encode(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if np.abs(x).max(initial=0) > FP16_MAX:
            raise VtoolError(f"a vector component exceeds the float16 range (±{FP16_MAX:g}); use SQ8 or Flat")
        return x.astype(np.float16).view(np.uint8).reshape(len(x), self.code_size)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(codes).view(np.float16).reshape(len(codes), self.d).astype(np.float32)
