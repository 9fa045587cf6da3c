"""SQ8_direct / SQ8_direct_signed: uint8 or int8 components stored as they are (Faiss
QT_8bit_direct / QT_8bit_direct_signed; BigANN, MSSpaceV, MNIST keep their bytes).

The codes are the values (signed: value + 128), so a uint8 / int8 base costs d bytes a vector
instead of Flat's 4·d, and nothing is trained. The native SQ8 scan runs them with vmin =
-0.5 (-128.5) and step 1, where every decoded component and every term (q - c)^2 or q·c
is an exact integer for integer queries: distances are exact while they stay below 2^24
(128-d uint8: at most 8.3M). Non-integer input rounds to nearest and clips to the range
(faiss truncates and wraps), so the encoding is lossy only for vectors that are not bytes.
"""

from __future__ import annotations

import numpy as np

from vtool.quant.sq import SQ8


class SQ8Direct(SQ8):
    name = pattern = forms = "SQ8_direct"
    by_residual = False  # a residual to a centroid is not a byte
    sections = ()
    low = 0  # the smallest value a code stands for
    decoded_dtype = np.dtype(np.uint8)

    def __init__(self, d: int):
        super().__init__(d)
        self.vmin = np.full(d, self.low - 0.5, np.float32)
        self.vdiff = np.full(d, 255.0, np.float32)

    def default_max_train(self) -> int:
        return 0

    def expected_shapes(self) -> dict[str, tuple]:
        return {}

    def train(self, x: np.ndarray, seed: int = 0) -> dict:
        return {}

    def quantize(self, x: np.ndarray) -> np.ndarray:
        values = np.rint(np.asarray(x, np.float32))
        return (np.clip(values, self.low, self.low + 255) - self.low).astype(np.uint8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return codes.astype(np.float32) + np.float32(self.low)

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Nothing to restore: the direct encodings keep no trained state."""


class SQ8DirectSigned(SQ8Direct):
    name = pattern = forms = "SQ8_direct_signed"
    low = -128
    decoded_dtype = np.dtype(np.int8)
