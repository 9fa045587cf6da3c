"""Product quantizer: d split into m sub-spaces, k-means with 2^nbits centroids in each.

Codes take one byte per sub-quantizer (nbits 4..8); the 4-bit fast-scan layout is
separate (fastscan.py). Inside an IVF the residual to the list centroid is encoded,
unless the spec says `np`, as Faiss does.
"""

from __future__ import annotations

import contextlib

import numpy as np

from vtool import _native, log
from vtool.errors import VtoolError
from vtool.quant.encoding import POINTS_PER_CENTROID, Encoding, bounded
from vtool.quant.kmeans import kmeans, warn_if_few_points


class ProductQuantizer(Encoding):
    """PQ<m>[x<nbits>][np]: nbits 4..8 (default 8); `np` encodes the vector, not the residual."""

    name = "PQ"
    forms = "PQ<m>[x<nbits>][np]"
    pattern = r"PQ(\d+)(?:x(\d+))?(np)?"
    scan = "PQ"
    sections = ("pq_codebooks",)
    table_norms = True

    def __init__(self, d: int, m: int, nbits: int = 8, by_residual: bool = True, niter: int = 25):
        super().__init__(d)
        self.m, self.nbits, self.ksub = m, nbits, 1 << nbits
        self.dsub = d // m
        self.by_residual = by_residual
        self.niter = niter
        self.codebooks: np.ndarray | None = None  # (m, ksub, dsub)

    @classmethod
    def parse(cls, match, spec: str) -> dict:
        nbits = int(match.group(2)) if match.group(2) else 8
        if not 4 <= nbits <= 8:
            raise VtoolError(f"index spec {spec!r}: PQ nbits must be between 4 and 8, got {nbits}")
        return {"m": bounded(match.group(1), spec), "nbits": nbits, "by_residual": not match.group(3)}

    @classmethod
    def token(cls, m: int, nbits: int = 8, by_residual: bool = True) -> str:
        return f"PQ{m}" + (f"x{nbits}" if nbits != 8 else "") + ("" if by_residual else "np")

    @classmethod
    def check_dimension(cls, params: dict, d: int, spec: str) -> None:
        if d % params["m"]:
            raise VtoolError(f"index spec {spec}: m={params['m']} does not divide the dimension {d}")

    @property
    def code_size(self) -> int:
        return self.m

    def default_max_train(self) -> int:
        return POINTS_PER_CENTROID * self.ksub

    def expected_shapes(self) -> dict[str, tuple]:
        return {"pq_codebooks": (self.m, self.ksub, self.dsub)}

    @property
    def is_trained(self) -> bool:
        return self.codebooks is not None

    def train(self, x: np.ndarray, seed: int = 0, hot_start: bool = False,
              points_per_centroid: int = POINTS_PER_CENTROID, show: bool = True) -> dict:
        """k-means in every sub-space; hot_start continues from the current codebooks. show: warn
        of a small sample and draw progress (OPQ's inner rounds do neither)."""
        x = np.ascontiguousarray(x, np.float32)
        if len(x) < self.ksub:
            raise VtoolError(f"PQ with {self.ksub} centroids per sub-quantizer needs at least {self.ksub} "
                             f"training vectors, got {len(x)}")
        rng = np.random.default_rng(seed)
        cap = points_per_centroid * self.ksub
        if len(x) > cap:
            x = x[np.sort(rng.choice(len(x), cap, replace=False))]
        books = np.empty((self.m, self.ksub, self.dsub), np.float32)
        if show:
            warn_if_few_points(len(x), self.ksub, f"PQ{self.m}x{self.nbits}")
        with log.progress(f"PQ{self.m} codebooks", self.m) if show else contextlib.nullcontext(lambda n: None) as done:
            for j in range(self.m):
                sub = np.ascontiguousarray(x[:, j * self.dsub:(j + 1) * self.dsub])
                start = self.codebooks[j] if hot_start and self.codebooks is not None else None
                books[j] = kmeans(sub, self.ksub, niter=self.niter, seed=seed + j, start=start).centroids
                done(1)
        self.codebooks = books
        return {"pq_train_rows": len(x)}

    def encode(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        codes = np.empty((len(x), self.m), np.uint8)
        for j in range(self.m):
            labels, _ = _native.assign_nearest(x[:, j * self.dsub:(j + 1) * self.dsub], self.codebooks[j])
            codes[:, j] = labels
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes)
        return np.concatenate([self.codebooks[j][codes[:, j]] for j in range(self.m)], axis=1)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"pq_codebooks": self.codebooks}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        self.codebooks = np.asarray(arrays["pq_codebooks"], np.float32)

    def scan_params(self) -> np.ndarray:
        return np.ascontiguousarray(self.codebooks, np.float32)
