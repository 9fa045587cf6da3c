"""Product quantizer: d split into m sub-spaces, k-means with 2^nbits centroids in each.

Codes take one byte per sub-quantizer (nbits 4..8); the 4-bit fast-scan layout is
separate (fastscan.py). Inside an IVF the residual to the list centroid is encoded,
unless the spec says `np`, as Faiss does.
"""

from __future__ import annotations

import numpy as np

from vtool import _native
from vtool.errors import VtoolError
from vtool.quant.encoding import KIND_PQ, Encoding
from vtool.quant.kmeans import kmeans

POINTS_PER_CENTROID = 256
PRECOMPUTED_MAX_BYTES = 1 << 29  # per-list tables above this are computed at search time instead


class ProductQuantizer(Encoding):
    kind = KIND_PQ

    def __init__(self, d: int, m: int, nbits: int = 8, by_residual: bool = True, niter: int = 25):
        super().__init__(d)
        self.m, self.nbits, self.ksub = m, nbits, 1 << nbits
        self.dsub = d // m
        self.by_residual = by_residual
        self.niter = niter
        self.codebooks: np.ndarray | None = None  # (m, ksub, dsub)

    @property
    def code_size(self) -> int:
        return self.m

    @property
    def is_trained(self) -> bool:
        return self.codebooks is not None

    def train(self, x: np.ndarray, seed: int = 0, hot_start: bool = False,
              points_per_centroid: int = POINTS_PER_CENTROID) -> dict:
        """k-means in every sub-space; hot_start continues from the current codebooks."""
        x = np.ascontiguousarray(x, np.float32)
        if len(x) < self.ksub:
            raise VtoolError(f"PQ with {self.ksub} centroids per sub-quantizer needs at least {self.ksub} "
                             f"training vectors, got {len(x)}")
        rng = np.random.default_rng(seed)
        cap = points_per_centroid * self.ksub
        if len(x) > cap:
            x = x[np.sort(rng.choice(len(x), cap, replace=False))]
        books = np.empty((self.m, self.ksub, self.dsub), np.float32)
        for j in range(self.m):
            sub = np.ascontiguousarray(x[:, j * self.dsub:(j + 1) * self.dsub])
            start = self.codebooks[j] if hot_start and self.codebooks is not None else None
            books[j] = kmeans(sub, self.ksub, niter=self.niter, seed=seed + j, start=start).centroids
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

    def precomputed_tables(self, centroids: np.ndarray) -> np.ndarray | None:
        """|codeword|^2 + 2<centroid sub-vector, codeword>, per list (nlist, m, ksub)."""
        nlist = len(centroids)
        if nlist * self.m * self.ksub * 4 > PRECOMPUTED_MAX_BYTES:
            return None
        norms = (self.codebooks.astype(np.float64) ** 2).sum(-1)  # (m, ksub)
        c = centroids.reshape(nlist, self.m, self.dsub).astype(np.float64)
        cross = np.einsum("ljd,jkd->ljk", c, self.codebooks.astype(np.float64))
        return np.ascontiguousarray(norms[None] + 2 * cross, dtype=np.float32)
