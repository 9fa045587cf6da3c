"""`--memory-budget`: batch sizes chosen from a byte budget, and memory maps kept out of RSS.

Streaming commands read inputs and write outputs through memory maps; every page they touch
stays resident in the process (and counts in its RSS) until the kernel needs it back. Under a
budget, `release` drops a map's pages from the process after each batch (madvise
MADV_DONTNEED: a file mapping's data stays in the page cache and in the file, dirty pages
included), and `rows` sizes batches so that their working memory fits. Without a budget both
leave things as they are. What no batch size bounds (the trained model, the queries of `gt`
and `search`, a graph's vectors) is documented with each command.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import sys
from typing import Iterator

import numpy as np

from vtool.errors import VtoolError

UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MINIMUM = 64 << 20  # below this nothing useful fits beside Python and numpy
_state: dict = {"budget": None, "free": None}


def parse_size(text: str) -> int:
    """Bytes of a size such as 512M, 2G, 1.5G or 1000000 (K/M/G/T are powers of 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise VtoolError(f"--memory-budget takes a size such as 512M or 2G, got {text!r}")
    size = int(float(m.group(1)) * UNITS[m.group(2).upper()])
    if size < MINIMUM:
        raise VtoolError(f"--memory-budget {text}: at least {MINIMUM >> 20}M")
    return size


@contextlib.contextmanager
def limited(budget: int | None) -> Iterator[None]:
    """Run a command under budget bytes of RSS (None: no budget); what the process holds already
    (the interpreter and its libraries, about 110 MB) is taken out of what batches may use."""
    before = dict(_state)
    _state["budget"] = budget
    _state["free"] = None if budget is None else max(budget - resident(), budget // 8)
    try:
        yield
    finally:
        _state.update(before)


def resident() -> int:
    """This process's resident set now, in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def budget() -> int | None:
    """The budget in force (bytes), or None."""
    return _state["budget"]


def free() -> int | None:
    """What the budget leaves beyond the process's size when the command started."""
    return _state["free"]


def rows(bytes_per_row: int, default: int, share: float = 0.25) -> int:
    """Rows a batch may hold: `default` without a budget; under one, as many as fit in `share`
    of it at bytes_per_row (the batch's working memory per row), at most default * 4."""
    if _state["budget"] is None:
        return default
    return int(max(256, min(4 * default, _state["free"] * share // max(bytes_per_row, 1))))


class Releaser:
    """release(arrays) once every `share` of the budget of progress (bytes written or read),
    for loops of many small steps (a merge's lists); a no-op without a budget."""

    def __init__(self, *arrays, share: float = 0.125):
        self.arrays, self.pending = arrays, 0
        self.every = int(_state["free"] * share) if _state["budget"] is not None else None

    def __call__(self, nbytes: int) -> None:
        if self.every is None:
            return
        self.pending += nbytes
        if self.pending >= self.every:
            release(*self.arrays)
            self.pending = 0


def headroom() -> int | None:
    """Bytes the process may still grow by before it is near its budget (None: no budget)."""
    if _state["budget"] is None:
        return None
    return _state["budget"] - _state["free"] // 4 - resident()


MADV_POPULATE_WRITE = 23  # Linux 5.14 and later; Python's mmap does not name it
POPULATE_MAX = 1 << 30  # bytes faulted in ahead at most: past that they would crowd the page cache


def populate(m: mmap.mmap, nbytes: int) -> None:
    """Fault in a new writable map's pages in one call, where stores would take a fault a page
    (adding 35k x 384 floats, file to file: 1.15x faster). Not under a budget (every page
    would be resident at once), not past POPULATE_MAX, nor where the kernel lacks it."""
    if _state["budget"] is not None or nbytes > POPULATE_MAX or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, ValueError):
        m.madvise(MADV_POPULATE_WRITE)


def release(*arrays) -> None:
    """Under a budget, once the process is near it (within a quarter of what was free at the
    start), drop the resident pages of the memory maps behind these arrays; a page faulted in
    again costs little, but releasing before the limit is near buys nothing."""
    if _state["budget"] is None or not hasattr(mmap, "MADV_DONTNEED") or headroom() > 0:
        return
    for a in arrays:
        m = getattr(a, "_mmap", None)
        if m is None and isinstance(getattr(a, "base", None), np.memmap):
            m = getattr(a.base, "_mmap", None)
        if m is not None and not m.closed:
            with contextlib.suppress(OSError, ValueError):
                m.madvise(mmap.MADV_DONTNEED)
