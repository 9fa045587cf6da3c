"""The code store part: how the codes of each list are laid out in the index file, behind
one pair of operations, rows -> sections (`section_specs` + `row_target` + `finish`, or
`pack` in memory) and sections -> rows (`rows`), and how a list is scanned.

    rows      `codes` uint8 (N, code_size), grouped by list
    fastscan  `block_offsets` int64 (nlist + 1) and `codes` uint8 (n_blocks, 16 m): each list
              in blocks of 32 rows (native/fastscan.c); for sub-quantizer j, byte t of a
              block holds row t's code in its low nibble and row t+16's in its high nibble
    ans       `codes_ans` uint32 and `codes_ans_offsets`: PQ codes rANS-coded per list
              (vtool/codecs/codes.py), decoded list by list on first use (header code_codec)
"""

from __future__ import annotations

import os
import threading

import numpy as np

from vtool import _native, memory
from vtool.codecs.codes import CompressedCodes
from vtool.io.atomic import open_memmap
from vtool.quant.encoding import Encoding
from vtool.quant.fastscan import pack_nibbles, unpack_nibbles


TERMS_MAX_BYTES = 1 << 30  # rows' list terms (4 bytes a row) kept in memory up to this; above, a table a list
TERMS_MIN_CODE_BYTES = 16  # shorter codes compose a table a list: the terms would add 4 bytes to each


class PlainRows:
    layout = "rows"
    sections = ("codes",)
    # scan(probes=None, tiles=(centroids, nprobe)) finds each batch's lists as it scans it; the
    # rows' stores need the probes first (list terms, lists to decode)
    probes_in_scan = False

    def __init__(self, encoding: Encoding, list_offsets: np.ndarray, arrays: dict[str, np.ndarray]):
        self.encoding, self.list_offsets = encoding, list_offsets
        self.codes = arrays["codes"]
        self._terms, self._terms_lock = None, threading.Lock()

    @classmethod
    def section_specs(cls, encoding: Encoding, list_sizes: np.ndarray) -> list[tuple[str, str, tuple]]:
        return [("codes", "|u1", (int(list_sizes.sum()), encoding.code_size))]

    @classmethod
    def row_target(cls, sections: dict, scratch: str | None, ntotal: int, encoding: Encoding) -> np.ndarray:
        """Where the driver writes codes in final row order."""
        return sections["codes"]

    @classmethod
    def finish(cls, encoding: Encoding, sections: dict, target: np.ndarray, list_offsets: np.ndarray) -> None:
        """Lay out the codes written to row_target."""

    @classmethod
    def pack(cls, encoding: Encoding, row_codes: np.ndarray, list_offsets: np.ndarray) -> dict[str, np.ndarray]:
        """Sections holding codes given in row order (in memory)."""
        sections = {name: np.zeros(shape, dtype) for name, dtype, shape in
                    cls.section_specs(encoding, np.diff(list_offsets))}
        target = cls.row_target(sections, None, len(row_codes), encoding)
        target[...] = row_codes
        cls.finish(encoding, sections, target, list_offsets)
        return sections

    def check(self) -> str | None:
        n = int(self.list_offsets[-1])
        if self.codes.dtype != np.uint8 or self.codes.shape != (n, self.encoding.code_size):
            return f"section 'codes' should be uint8 {(n, self.encoding.code_size)}"
        return None

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Codes (n, code_size) of row positions."""
        return self.codes[rows]

    def ensure(self, lists: np.ndarray) -> None:
        """Make the lists readable (compressed stores decode them)."""

    def scan(self, enc: Encoding, xq, probes, coarse, metric, centroids, residual, precomputed, threads=1,
             **collector):
        """The probed lists of each query into its results, on `threads` native threads."""
        return _native.ivf_scan(enc.scan_kind, xq, self.codes, self.list_offsets, probes, metric,
                                centroids=centroids, by_residual=residual, coarse_dist=coarse,
                                params=enc.scan_params(), m=enc.m, ksub=enc.ksub, precomputed=precomputed,
                                terms=self.list_terms(precomputed, probes), threads=threads, **collector)

    def list_terms(self, precomputed: np.ndarray | None, probes: np.ndarray) -> np.ndarray | None:
        """Each row's part of its list's precomputed table (L2 by residual), summed once for the
        lists the probes name: the scan then reads the query's table alone, where composing one
        table a (query, list) took 40 % of an IVF256,PQ48 search at d = 384 (1.5-2.4x faster
        with the terms). None without tables, for codes under TERMS_MIN_CODE_BYTES (the terms
        would grow them by a quarter or more, for little: GloVe IVF256,PQ10 1-4 %), or past
        TERMS_MAX_BYTES (a quarter of what a --memory-budget leaves)."""
        cap = TERMS_MAX_BYTES if memory.budget() is None else min(TERMS_MAX_BYTES, memory.free() // 4)
        if precomputed is None or self.codes.shape[1] < TERMS_MIN_CODE_BYTES or 4 * len(self.codes) > cap:
            return None
        with self._terms_lock:
            if self._terms is None or self._terms[0] is not precomputed:
                self._terms = (precomputed, np.empty(len(self.codes), np.float32),
                               np.zeros(len(self.list_offsets) - 1, bool))
            _, terms, done = self._terms
            if not done.all():
                lists = self._lists_with_codes(probes)
                lists = lists[~done[lists]]
                if len(lists):
                    _native.list_terms(precomputed, self.codes, self.list_offsets, lists, terms)
                    done[lists] = True
        return terms

    def _lists_with_codes(self, probes: np.ndarray) -> np.ndarray:
        """The lists whose codes are readable now: every list (read in place)."""
        return np.arange(len(self.list_offsets) - 1)


class FastScanBlocks(PlainRows):
    layout = "fastscan"
    sections = ("block_offsets", "codes")
    probes_in_scan = True

    def __init__(self, encoding, list_offsets, arrays):
        super().__init__(encoding, list_offsets, arrays)
        self.block_offsets = arrays["block_offsets"]

    @classmethod
    def section_specs(cls, encoding, list_sizes):
        return [("block_offsets", "<i8", (len(list_sizes) + 1,)),
                ("codes", "|u1", (int(((list_sizes + 31) // 32).sum()), 16 * encoding.m))]

    @classmethod
    def row_target(cls, sections, scratch, ntotal, encoding):
        if scratch is None or not ntotal:
            return np.zeros((ntotal, encoding.code_size), np.uint8)
        return open_memmap(os.path.join(scratch, "rows.npy"), dtype=np.uint8,
                                         shape=(ntotal, encoding.code_size))

    @classmethod
    def finish(cls, encoding, sections, target, list_offsets):
        bo = sections["block_offsets"]
        bo[0] = 0
        np.cumsum((np.diff(list_offsets) + 31) // 32, out=bo[1:])
        blocks = sections["codes"]
        for lst in np.flatnonzero(np.diff(list_offsets)):
            a, b = list_offsets[lst], list_offsets[lst + 1]
            blocks[bo[lst]:bo[lst + 1]] = _native.fs_pack_blocks(unpack_nibbles(target[a:b], encoding.m))

    def check(self):
        bo, lo = self.block_offsets, self.list_offsets
        if bo.dtype != np.int64 or bo.shape != lo.shape or bo[0] != 0 or \
                not np.array_equal(np.diff(bo), (np.diff(lo) + 31) // 32):
            return "section 'block_offsets' does not match the list sizes"
        if self.codes.dtype != np.uint8 or self.codes.shape != (int(bo[-1]), 16 * self.encoding.m):
            return f"section 'codes' should be uint8 {(int(bo[-1]), 16 * self.encoding.m)}"
        return None

    def rows(self, rows):
        """Packed 4-bit codes of rows, read back out of the blocks."""
        m = self.encoding.m
        rows = np.asarray(rows, dtype=np.int64)
        lists = np.searchsorted(self.list_offsets, rows, side="right") - 1
        within = rows - self.list_offsets[lists]
        blocks = self.block_offsets[lists] + within // 32
        lane = within % 32
        raw = self.codes[blocks].reshape(len(rows), m, 16)
        byte = raw[np.arange(len(rows))[:, None], np.arange(m)[None], (lane % 16)[:, None]]
        sub = np.where((lane < 16)[:, None], byte & 15, byte >> 4).astype(np.uint8)
        return pack_nibbles(sub)

    def scan(self, enc, xq, probes, coarse, metric, centroids, residual, precomputed, threads=1, tiles=None,
             **collector):
        return _native.ivf_fs_scan(xq, self.codes, self.block_offsets, self.list_offsets, probes, enc.codebooks,
                                   metric, centroids=centroids, by_residual=residual, precomputed=precomputed,
                                   threads=threads, tiles=tiles, **collector)


class AnsLists(PlainRows):
    """PQ codes compressed per list; plain rows materialised on demand (stays in memory)."""

    layout = "ans"
    sections = ("codes_ans", "codes_ans_offsets")

    def __init__(self, encoding, list_offsets, arrays):
        self.encoding, self.list_offsets = encoding, list_offsets
        self.source = CompressedCodes(arrays, list_offsets, encoding.code_size, encoding.m, encoding.ksub)
        self.codes = self.source.plain
        self._terms, self._terms_lock = None, threading.Lock()

    def check(self):
        return None  # the stream offsets are checked when decoded; each list when first read

    def rows(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        self.ensure(np.searchsorted(self.list_offsets, rows, side="right") - 1)
        return self.codes[rows]

    def ensure(self, lists):
        self.source.ensure(lists)

    def scan(self, enc, xq, probes, coarse, metric, centroids, residual, precomputed, threads=1, **collector):
        self.ensure(probes.ravel())
        return super().scan(enc, xq, probes, coarse, metric, centroids, residual, precomputed, threads, **collector)

    def _lists_with_codes(self, probes):
        """The probed lists (decoded by scan before it asks)."""
        probes = np.unique(probes)
        return probes[probes >= 0]


STORES = {cls.layout: cls for cls in (PlainRows, FastScanBlocks)}


def store_class(encoding: Encoding, header: dict) -> type[PlainRows]:
    """The store an index's codes are in: the encoding's layout, or the header's code codec."""
    if header.get("code_codec") == "ans":
        return AnsLists
    return STORES[encoding.layout]
