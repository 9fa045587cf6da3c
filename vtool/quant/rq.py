"""Residual quantizer: m stages of 2^nbits full-dimension codewords, each encoding what the
previous stages left, with beam-search encoding (the idea of QINCo2's beam, with plain
codebooks): keep the B best partial encodings at every stage. B = 1 is greedy RQ.

A code is m bytes (one per stage, nbits <= 8) followed by the float32 squared norm of the
reconstruction, which L2 search needs (|q - r|^2 = |q|^2 - 2<q, r> + |r|^2).
"""

from __future__ import annotations

import numpy as np

from vtool import _native, log
from vtool.errors import VtoolError
from vtool.quant.encoding import POINTS_PER_CENTROID, Encoding, bounded
from vtool.quant.kmeans import progressive_kmeans, warn_if_few_points

ENCODE_BLOCK = 4096
REFINE_ROUNDS = 2  # least-squares codebook updates after the stage-wise training
REFINE_MAX_COLUMNS = 4096  # m * 2^nbits above this: the (m K)^2 system is too big; skip


MAX_BEAM = 4096


class ResidualQuantizer(Encoding):
    """RQ<m>[x<nbits>]: nbits 1..8 (default 8); the beam width is a training option kept in
    the header (rq_beam), as `add` and `encode` use it."""

    name = "RQ"
    forms = "RQ<m>[x<nbits>]"
    pattern = r"RQ(\d+)(?:x(\d+))?"
    scan = "RQ"
    sections = ("rq_codebooks",)
    by_residual = True

    def __init__(self, d: int, m: int, nbits: int = 8, beam: int = 1):
        super().__init__(d)
        self.m, self.nbits, self.ksub = m, nbits, 1 << nbits
        self.beam = beam
        self.codebooks: np.ndarray | None = None  # (m, ksub, d)

    @classmethod
    def parse(cls, match, spec: str) -> dict:
        nbits = int(match.group(2)) if match.group(2) else 8
        if not 1 <= nbits <= 8:
            raise VtoolError(f"index spec {spec!r}: RQ nbits must be between 1 and 8, got {nbits}")
        return {"m": bounded(match.group(1), spec), "nbits": nbits}

    @classmethod
    def token(cls, m: int, nbits: int = 8) -> str:
        return f"RQ{m}x{nbits}"

    @classmethod
    def build(cls, d: int, params: dict, options: dict) -> ResidualQuantizer:
        beam = options.get("rq_beam", 1)
        if type(beam) is not int or not 1 <= beam <= MAX_BEAM:
            raise VtoolError(f"the RQ beam (header field 'rq_beam') must be an integer from 1 to {MAX_BEAM}")
        return cls(d, **params, beam=beam)

    def header_fields(self) -> dict:
        return {"rq_beam": self.beam}

    @property
    def code_size(self) -> int:
        return self.m + 4

    def default_max_train(self) -> int:
        return POINTS_PER_CENTROID * self.ksub

    def expected_shapes(self) -> dict[str, tuple]:
        return {"rq_codebooks": (self.m, self.ksub, self.d)}

    @property
    def is_trained(self) -> bool:
        return self.codebooks is not None

    def train(self, x: np.ndarray, seed: int = 0) -> dict:
        """Stage by stage: progressive-dim k-means on the residuals of every beam entry and a
        beam step; then least-squares codebook updates while they lower the training error."""
        rng = np.random.default_rng(seed)
        cap = POINTS_PER_CENTROID * self.ksub
        x = np.ascontiguousarray(x, np.float32)
        if len(x) > cap:
            x = x[np.sort(rng.choice(len(x), cap, replace=False))]
        self.codebooks = np.zeros((self.m, self.ksub, self.d), np.float32)
        residuals = x[:, None, :]  # (n, beam entries, d)
        codes = np.zeros((len(x), 1, 0), np.int64)
        warn_if_few_points(len(x), self.ksub, f"RQ{self.m}x{self.nbits}")
        with log.progress(f"RQ{self.m} stages", self.m) as done:
            for stage in range(self.m):
                points = residuals.reshape(-1, self.d)
                if len(points) > cap:
                    points = points[np.sort(rng.choice(len(points), cap, replace=False))]
                self.codebooks[stage] = progressive_kmeans(points, self.ksub, seed=seed + stage)
                residuals, codes, _ = self._beam_step(residuals, codes, stage)
                done(1)
        report = {"rq_train_rows": len(x), "rq_stagewise_mse": self._mse(x, codes[:, 0])}
        best_mse, idx = report["rq_stagewise_mse"], codes[:, 0]
        if self.m * self.ksub <= REFINE_MAX_COLUMNS:
            for _ in range(REFINE_ROUNDS):  # kept only while the training error goes down
                before = self.codebooks.copy()
                self._refine_codebooks(x, idx)
                new_idx = self.encode_indices(x)
                new_mse = self._mse(x, new_idx)
                if new_mse >= best_mse:
                    self.codebooks = before
                    break
                best_mse, idx = new_mse, new_idx
        report["rq_train_mse"] = best_mse
        return report

    def _mse(self, x: np.ndarray, idx: np.ndarray) -> float:
        return float(np.mean(np.sum((x - self._reconstruct(idx)) ** 2, axis=1)))

    def _refine_codebooks(self, x: np.ndarray, idx: np.ndarray) -> None:
        """All codebooks at once, by least squares given the codes: min |x - sum_i C_i[idx_i]|^2.

        The normal equations have one unknown codeword per (stage, index): (m K) x (m K)."""
        m, k = self.m, self.ksub
        gram = np.zeros((m * k, m * k))
        rhs = np.zeros((m * k, self.d))
        for i in range(m):
            onehot = np.zeros((len(x), k), np.float32)
            onehot[np.arange(len(x)), idx[:, i]] = 1.0
            rhs[i * k:(i + 1) * k] = onehot.T @ x
            for j in range(i, m):
                block = np.bincount(idx[:, i] * k + idx[:, j], minlength=k * k).reshape(k, k)
                gram[i * k:(i + 1) * k, j * k:(j + 1) * k] = block
                gram[j * k:(j + 1) * k, i * k:(i + 1) * k] = block.T
        ridge = 1e-6 * max(1.0, float(np.mean(np.diag(gram))))
        solution = np.linalg.solve(gram + ridge * np.eye(m * k), rhs)
        used = np.diag(gram) > 0  # an unused codeword keeps its k-means value
        books = self.codebooks.reshape(m * k, self.d)
        books[used] = solution[used].astype(np.float32)
        self.codebooks = books.reshape(m, k, self.d)

    def _beam_step(self, residuals: np.ndarray, codes: np.ndarray, stage: int):
        """Extend every beam entry by every codeword of `stage`; keep the best `beam`."""
        n, b, d = residuals.shape
        book = self.codebooks[stage]
        if b == 1 and self.beam == 1:  # greedy: the fused nearest-codeword kernel
            labels, err = _native.assign_nearest(residuals[:, 0], book)
            new_res = residuals - book[labels][:, None, :]
            return new_res, np.concatenate([codes, labels[:, None, None]], axis=2), err[:, None]
        flat = residuals.reshape(n * b, d)
        err = ((flat * flat).sum(1)[:, None] - 2 * (flat @ book.T) + (book * book).sum(1)[None]).reshape(n, b * self.ksub)
        keep = min(self.beam, b * self.ksub)
        part = np.argpartition(err, keep - 1, axis=1)[:, :keep] if keep < err.shape[1] else \
            np.broadcast_to(np.arange(err.shape[1]), (n, err.shape[1]))
        part_err = np.take_along_axis(err, part, 1)
        order = np.lexsort((part, part_err), axis=1)  # by error, ties by candidate index
        chosen = np.take_along_axis(part, order, 1)
        parent, word = chosen // self.ksub, chosen % self.ksub
        rows = np.arange(n)[:, None]
        new_res = residuals[rows, parent] - book[word]
        new_codes = np.concatenate([codes[rows, parent], word[:, :, None]], axis=2)
        return new_res, new_codes, np.take_along_axis(err, chosen, 1)

    def encode_indices(self, x: np.ndarray) -> np.ndarray:
        """Beam-search codeword indices (n, m) of the best encoding of each vector."""
        x = np.ascontiguousarray(x, np.float32)
        out = np.empty((len(x), self.m), np.int64)
        for a in range(0, len(x), ENCODE_BLOCK):
            residuals = x[a:a + ENCODE_BLOCK, None, :]
            codes = np.zeros((len(residuals), 1, 0), np.int64)
            for stage in range(self.m):
                residuals, codes, err = self._beam_step(residuals, codes, stage)
            best = np.argmin(np.sum(residuals * residuals, axis=2), axis=1)
            out[a:a + ENCODE_BLOCK] = codes[np.arange(len(codes)), best]
        return out

    def encode(self, x: np.ndarray) -> np.ndarray:
        idx = self.encode_indices(x)
        recon = self._reconstruct(idx)
        norms = np.sum(recon.astype(np.float64) ** 2, axis=1).astype(np.float32)
        return np.concatenate([idx.astype(np.uint8), norms.view(np.uint8).reshape(-1, 4)], axis=1)

    def _reconstruct(self, idx: np.ndarray) -> np.ndarray:
        out = np.zeros((len(idx), self.d), np.float32)
        for stage in range(self.m):
            out += self.codebooks[stage][idx[:, stage]]
        return out

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self._reconstruct(np.asarray(codes)[:, :self.m].astype(np.int64))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"rq_codebooks": self.codebooks}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        self.codebooks = np.asarray(arrays["rq_codebooks"], np.float32)

    def scan_params(self) -> np.ndarray:
        return np.ascontiguousarray(self.codebooks, np.float32)
