"""The encodings an index stores its vectors in, behind one interface.

An Encoding turns float32 vectors (n, d) into codes (n, code_size) of uint8 and back. Each
encoding class owns everything about itself: its spec token (`pattern`, `parse`, `token`),
its trained state (`sections`, saved as .vti sections), its default training size, its
native scan kind (a `VT_SCAN_*` name of native/vtool.h) and its code layout inside a list
("rows", or "fastscan" blocks of 32). A new encoding is a new file plus one line in
vtool/quant/registry.py. Nothing here knows about inverted lists.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

import numpy as np

from vtool import _native
from vtool.errors import VtoolError

POINTS_PER_CENTROID = 256  # training sample per centroid, as Faiss
PRECOMPUTED_MAX_BYTES = 1 << 29  # per-list tables above this are computed at search time instead


class Encoding(ABC):
    name = ""  # family name in reports (PQ, SQ8, ...)
    pattern = ""  # regular expression of the spec token (fully matched)
    forms = ""  # the token's forms, for error messages
    lossy = True  # False: exact vectors (re-ranking has nothing to add)
    scan = "FLAT"  # native scan kind
    layout = "rows"  # how codes are laid out in a list: "rows" or "fastscan"
    sections: tuple[str, ...] = ()  # names of the trained-state sections
    by_residual: bool = False  # inside an IVF, encode x - centroid (Faiss's default for PQ, SQ, RQ)
    m: int = 0  # sub-codes per vector (PQ, RQ)
    ksub: int = 0  # centroids per sub-codebook (PQ, RQ)
    nbits: int = 0
    decoded_dtype = np.dtype(np.float32)  # what decode's values are, exactly (bytes for the direct SQ)

    def __init__(self, d: int):
        self.d = d

    # -- spec token -------------------------------------------------------------------
    @classmethod
    def parse(cls, match: re.Match, spec: str) -> dict:
        """Constructor parameters from a matched token; VtoolError naming spec when out of range."""
        return {}

    @classmethod
    def token(cls, **params) -> str:
        """The spec token of these parameters (inverse of parse)."""
        return cls.pattern

    @classmethod
    def check_dimension(cls, params: dict, d: int, spec: str) -> None:
        """Refuse parameters that do not fit vectors of dimension d."""

    @classmethod
    def build(cls, d: int, params: dict, options: dict) -> Encoding:
        """An untrained instance; options are header fields and training options (see header_fields)."""
        return cls(d, **params)

    def header_fields(self) -> dict:
        """Fields the encoding keeps in the index header (read back through build's options)."""
        return {}

    # -- codes ------------------------------------------------------------------------
    @property
    @abstractmethod
    def code_size(self) -> int:
        """Bytes per encoded vector."""

    @property
    def is_trained(self) -> bool:
        return True

    def default_max_train(self) -> int:
        """Training vectors wanted when the user does not say (0: nothing to train)."""
        return 0

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
        """Trained state as named arrays (saved as .vti sections, named in `sections`)."""
        return {}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the state written by arrays()."""

    def check_arrays(self, arrays: dict[str, np.ndarray]) -> str | None:
        """What is wrong with loaded trained state (shapes, dtypes), or None."""
        for name, want in self.expected_shapes().items():
            problem = check_section(arrays, name, np.float32, want)
            if problem:
                return problem
        return None

    def expected_shapes(self) -> dict[str, tuple]:
        return {}

    # -- search -----------------------------------------------------------------------
    @property
    def scan_kind(self) -> int:
        return _native.scan_kind(self.scan)

    def scan_params(self) -> np.ndarray:
        """The float32 parameter block the native scan reads."""
        return np.zeros(1, dtype=np.float32)

    table_norms = False  # precomputed tables include |codeword|^2 (the code does not carry it)

    def precomputed_tables(self, centroids: np.ndarray) -> np.ndarray | None:
        """Per-list lookup-table terms for L2 by residual (nlist, m, ksub): 2<c_l, codeword>,
        plus |codeword|^2 when table_norms; None for encodings without tables or too large."""
        books = getattr(self, "codebooks", None)
        if books is None or self.scan not in ("PQ", "RQ"):
            return None
        nlist, (m, ksub, dsub) = len(centroids), books.shape
        if nlist * m * ksub * 4 > PRECOMPUTED_MAX_BYTES:
            return None
        b = books.astype(np.float64)
        norms = (b ** 2).sum(-1)[None] if self.table_norms else 0
        tables = np.empty((nlist, m, ksub), np.float32)
        step = max(1, (1 << 22) // (m * ksub * max(dsub, 1)))  # lists at a time: float64 temporaries stay small
        for a in range(0, nlist, step):
            c = centroids[a:a + step].astype(np.float64)
            if dsub == self.d:  # every codeword spans all dimensions (RQ)
                cross = (c @ b.reshape(m * ksub, dsub).T).reshape(len(c), m, ksub)
            else:  # codeword j spans sub-space j (PQ)
                cross = np.einsum("ljd,jkd->ljk", c.reshape(len(c), m, dsub), b)
            tables[a:a + step] = 2 * cross + norms
        return tables


class FlatEncoding(Encoding):
    """Raw float32 vectors: the code of a vector is its bytes."""

    name = pattern = forms = "Flat"
    lossy = False

    @property
    def code_size(self) -> int:
        return 4 * self.d

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float32).view(np.uint8).reshape(len(x), self.code_size)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(codes).view(np.float32).reshape(len(codes), self.d)


def check_section(arrays: dict, name: str, dtype, shape: tuple) -> str | None:
    """What is wrong with a loaded section (missing, dtype, byte order, shape), or None."""
    a = arrays.get(name)
    if a is None:
        return f"the index has no {name!r} section"
    if a.dtype != np.dtype(dtype).newbyteorder("<") or a.shape != tuple(shape):
        return f"section {name!r} is {a.dtype.str} {a.shape}, expected {np.dtype(dtype).str} {tuple(shape)}"
    return None


def bounded(text: str, spec: str, low: int = 1, high: int = 4096, what: str = "") -> int:
    """An integer of a spec token, refused outside [low, high]."""
    value = int(text)
    if not low <= value <= high:
        raise VtoolError(f"index spec {spec!r}: {what + ' ' if what else ''}{value} is out of range"
                         + (f" ({low}..{high})" if what else ""))
    return value
