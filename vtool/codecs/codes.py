"""Lossless compression of PQ codes: rANS per list with an adaptive frequency table per
sub-quantizer (native/code_ans.c). The scan works on plain codes, so a search decodes the
lists it probes, each once per opened index (the decoded lists stay in memory).

Sections: `codes_ans` (uint32 words of every list's stream) and `codes_ans_offsets`
(Elias-Fano words of the nlist + 1 word offsets); the header's "code_codec" is "ans".
"""

from __future__ import annotations

import os
import threading
from math import lgamma, log

import numpy as np

from vtool import _native
from vtool.codecs.ids import decode_offsets
from vtool.errors import VtoolError


def encode_codes(codes: np.ndarray, list_offsets: np.ndarray, m: int, ksub: int) -> dict[str, np.ndarray]:
    streams, offsets = [], [0]
    for a, b in zip(list_offsets[:-1], list_offsets[1:]):
        stream = _native.code_ans_encode(codes[a:b, :m], m, ksub)
        streams.append(stream)
        offsets.append(offsets[-1] + len(stream))
    return {"codes_ans": np.concatenate(streams) if streams else np.zeros(0, np.uint32),
            "codes_ans_offsets": _native.ef_encode(np.asarray(offsets, dtype=np.uint64), offsets[-1] + 1)}


def code_bounds(codes: np.ndarray, list_offsets: np.ndarray, m: int, ksub: int) -> dict:
    """Bits of the ideal adaptive code (per list and sub-quantizer: log2(K (K+1)...(K+n-1))
    - sum_s log2(c_s!)) and of the empirical entropy (n H(counts / n)), in all."""
    ideal = entropy = 0.0
    for a, b in zip(list_offsets[:-1], list_offsets[1:]):
        n = int(b - a)
        if not n:
            continue
        for j in range(m):
            counts = np.bincount(codes[a:b, j], minlength=ksub)
            ideal += (lgamma(ksub + n) - lgamma(ksub) - sum(lgamma(c + 1) for c in counts[counts > 1])) / log(2)
            p = counts[counts > 0] / n
            entropy += float(-(p * np.log2(p)).sum()) * n
    return {"ideal_adaptive_bits": ideal, "empirical_entropy_bits": entropy}


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 1 << 40


class CompressedCodes:
    """Plain codes (n, code_size) materialised list by list, on demand."""

    def __init__(self, sections: dict[str, np.ndarray], list_offsets: np.ndarray, code_size: int, m: int, ksub: int):
        self.sections, self.list_offsets = sections, np.asarray(list_offsets, dtype=np.int64)
        self.m, self.ksub = m, ksub
        need = int(self.list_offsets[-1]) * code_size
        if need > physical_memory():  # the lists' sizes are untrusted: no allocation before a check
            raise VtoolError(f"corrupt index: {self.list_offsets[-1]} ANS-coded vectors would take "
                             f"{need / 2 ** 30:.3g} GiB decoded, more than this machine's memory")
        self.plain = np.zeros((int(self.list_offsets[-1]), code_size), dtype=np.uint8)
        self.offsets = decode_offsets(sections["codes_ans_offsets"], len(self.list_offsets), len(sections["codes_ans"]))
        self.ready = np.zeros(len(self.list_offsets) - 1, dtype=bool)
        self._lock = threading.Lock()

    def ensure(self, lists: np.ndarray) -> None:
        for lst in np.unique(lists):
            if lst < 0 or self.ready[lst]:
                continue
            a, b = int(self.list_offsets[lst]), int(self.list_offsets[lst + 1])
            try:
                stream = self.sections["codes_ans"][self.offsets[lst]:self.offsets[lst + 1]]
                decoded = _native.code_ans_decode(stream, b - a, self.m, self.ksub)
            except ValueError:
                raise VtoolError(f"corrupt compressed codes in list {lst}") from None
            with self._lock:
                self.plain[a:b] = decoded
                self.ready[lst] = True
